/**
 * Checking a JWT's signature with a key from its provider's key set: the one key that fits the
 * token's `kid` and algorithm, refetching the set once (per cooldown) when none does, so a key
 * rotated in at the provider is found and an unknown `kid` cannot cause a refetch storm.
 */
import { compactVerify, importJWK, type JWK } from "jose";
import { errorText, oidcParseError, type AuthError } from "./authError.js";
import { isJsonObject } from "../storage/index.js";
import type { KeySet, KeySetSource, KeySets } from "./keySets.js";

export interface SignatureCheck {
  token: string;
  header: Record<string, unknown>;
  /** The algorithm the provider accepts (already checked against the header's `alg`). */
  alg: string;
  source: KeySetSource;
  /** Custom JWT providers need a `kid`; OIDC ones may omit it when one key fits. */
  requireKid: boolean;
  fail: (reason: string) => AuthError;
}

/** The verified payload, and the key set that verified it (OIDC reads its discovered issuer). */
export async function verifySignature(
  keySets: KeySets,
  { token, header, alg, source, requireKid, fail }: SignatureCheck,
): Promise<{ payload: Record<string, unknown>; keySet: KeySet }> {
  const kid = typeof header.kid === "string" ? header.kid : undefined;
  if (requireKid && kid === undefined) throw fail("the JWT has no 'kid' header");
  let keySet = await keySets.get(source, false);
  let candidates = eligibleKeys(keySet.keys, kid, alg);
  if (candidates.length === 0 && kid !== undefined && keySets.mayRefetch(source)) {
    keySet = await keySets.get(source, true);
    candidates = eligibleKeys(keySet.keys, kid, alg);
  }
  if (candidates.length === 0) {
    throw fail(kid === undefined ? "No matching key found" : `No matching key found for kid '${kid}'`);
  }
  if (candidates.length > 1) throw fail(`Ambiguous key identification: ${candidates.length} eligible keys`);
  const index = candidates[0];
  const importKey = `${index}:${alg}`;
  let keyPromise = keySet.imported.get(importKey);
  if (keyPromise === undefined) {
    keyPromise = importJWK({ ...keySet.keys[index], ext: true }, alg);
    keySet.imported.set(importKey, keyPromise);
  }
  let key: CryptoKey | Uint8Array;
  try {
    key = await keyPromise;
  } catch (e) {
    keySet.imported.delete(importKey);
    throw fail(`the JWKS key could not be imported: ${errorText(e)}`);
  }
  let result;
  try {
    result = await compactVerify(token, key, { algorithms: [alg] });
  } catch (e) {
    throw fail(`Signature verification failed: ${errorText(e)}`);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(result.payload));
  } catch {
    throw oidcParseError("the payload is not JSON");
  }
  if (!isJsonObject(payload)) throw oidcParseError("the payload is not a JSON object");
  return { payload, keySet };
}

/** Indexes of the JWKS keys usable for `alg` (and `kid`, when the token names one). */
function eligibleKeys(keys: JWK[], kid: string | undefined, alg: string): number[] {
  const out: number[] = [];
  keys.forEach((k, i) => {
    if (kid !== undefined && k.kid !== kid) return;
    if (k.use !== undefined && k.use !== "sig") return;
    if (k.alg !== undefined && k.alg !== alg) return;
    if (Array.isArray(k.key_ops) && !k.key_ops.includes("verify")) return;
    if ("d" in k) return; // never a private key
    const fits =
      (alg === "RS256" && k.kty === "RSA") ||
      (alg === "ES256" && k.kty === "EC" && k.crv === "P-256") ||
      (alg === "EdDSA" && k.kty === "OKP" && k.crv === "Ed25519");
    if (fits) out.push(i);
  });
  return out;
}
