/** `CONVEX_AUTH_PRIVATE_KEY` is not a PKCS#8 PEM RSA or P-256 private key. */
export class InvalidSigningKeyError extends Error {
  override name = "InvalidSigningKeyError";
}

/** The token issuer (the Convex site URL) cannot be derived from the environment. */
export class IssuerDerivationError extends Error {
  override name = "IssuerDerivationError";
}

/** A JWKS (from `--current-jwks`, `JWKS` or the deployment) is not `{"keys": [...]}` JSON. */
export class InvalidJwksError extends Error {
  override name = "InvalidJwksError";
}
