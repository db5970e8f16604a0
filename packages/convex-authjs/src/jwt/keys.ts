import {
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importPKCS8,
  type CryptoKey,
  type JWK,
} from "jose";
import { InvalidJwksError, InvalidSigningKeyError } from "./errors.js";

export type SigningAlgorithm = "RS256" | "ES256";
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ["RS256", "ES256"];

/** A public signing key as published in the JWKS. */
export interface PublicSigningJwk extends JWK {
  kid: string;
  alg: SigningAlgorithm;
  use: "sig";
}

export interface SigningKeyPair {
  /** PKCS#8 PEM, the value of `CONVEX_AUTH_PRIVATE_KEY`. */
  privateKeyPem: string;
  publicJwk: PublicSigningJwk;
}

export interface ImportedSigningKey {
  key: CryptoKey;
  alg: SigningAlgorithm;
  kid: string;
}

// The members RFC 7638 hashes, per key type: the public ones only.
const THUMBPRINT_MEMBERS: Record<string, string[]> = {
  RSA: ["e", "kty", "n"],
  EC: ["crv", "kty", "x", "y"],
};

/**
 * The key ID: the RFC 7638 thumbprint of the public key. Derivable from the
 * private key alone, so the Next.js server needs no separate `kid` setting to
 * match the JWKS.
 */
export async function keyIdOf(jwk: JWK): Promise<string> {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ""];
  if (!members) throw new InvalidSigningKeyError(`Unsupported key type ${jwk.kty}.`);
  const publicPart = Object.fromEntries(members.map((member) => [member, jwk[member as keyof JWK]]));
  return calculateJwkThumbprint(publicPart as JWK, "sha256");
}

export async function generateSigningKeyPair(alg: SigningAlgorithm = "RS256"): Promise<SigningKeyPair> {
  // jose 6 makes private keys non-extractable by default, and exportPKCS8 needs them extractable.
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return {
    privateKeyPem: await exportPKCS8(privateKey),
    publicJwk: { ...jwk, kid: await keyIdOf(jwk), alg, use: "sig" },
  };
}

/**
 * Accepts the PEM as env files and hosting dashboards deliver it: with real
 * newlines, with literal `\n` escapes, or still wrapped in quotes.
 */
export function normalizePem(pem: string): string {
  return pem.trim().replace(/^(["'])([\s\S]*)\1$/, "$2").replace(/\\n/g, "\n").trim();
}

/**
 * Imports a PKCS#8 PEM private key, detecting RS256 (RSA) or ES256 (P-256)
 * unless `alg` is given, and computes its key ID.
 */
export async function importSigningKey(pem: string, alg?: SigningAlgorithm): Promise<ImportedSigningKey> {
  const normalized = normalizePem(pem);
  for (const candidate of alg ? [alg] : SIGNING_ALGORITHMS) {
    let key: CryptoKey;
    try {
      // Extractable so the public members can be read for the key ID; the PEM is in memory anyway.
      key = await importPKCS8(normalized, candidate, { extractable: true });
    } catch {
      continue;
    }
    return { key, alg: candidate, kid: await keyIdOf(await exportJWK(key)) };
  }
  throw new InvalidSigningKeyError(
    `The private key is not a PKCS#8 PEM ${alg ?? "RS256 or ES256"} key ("-----BEGIN PRIVATE KEY-----"). Generate one with \`npx convex-authjs keys\`.`,
  );
}

export interface Jwks {
  keys: JWK[];
}

/** Parses a JWKS document, refusing anything but `{"keys": [objects]}`. */
export function parseJwks(text: string): Jwks {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidJwksError("The JWKS is not valid JSON.");
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((key) => typeof key !== "object" || key === null || Array.isArray(key))) {
    throw new InvalidJwksError('The JWKS must be an object {"keys": [...]} of JWK objects.');
  }
  return { keys };
}

/**
 * The JWKS after a rotation: the new key first, then up to `keepPrevious` of
 * the current keys, so tokens signed before the rotation stay verifiable
 * until they expire.
 */
export function rotateJwks(newKey: PublicSigningJwk, current: Jwks | undefined, keepPrevious = 1): Jwks {
  const previous = (current?.keys ?? []).filter((key) => key.kid !== newKey.kid).slice(0, keepPrevious);
  return { keys: [newKey, ...previous] };
}
