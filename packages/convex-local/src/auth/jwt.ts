/**
 * Reading a JWT (compact JWS) before its signature is checked: size bound, three base64url parts,
 * a JSON-object header and payload; plus the claim readers the verifier shares.
 */
import { base64url } from "jose";
import { isJsonObject } from "../storage/index.js";
import { AuthError } from "./authError.js";

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

const JWS_PART = /^[A-Za-z0-9_-]*$/;

export interface UnverifiedToken {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Decodes header and payload without verifying anything; bounded by MAX_TOKEN_LENGTH. */
export function decodeUnverified(token: string): UnverifiedToken {
  if (typeof token !== "string") throw new AuthError("InvalidAuthHeader", "The auth token must be a string.");
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new AuthError("InvalidAuthHeader", `The auth token is too large (${token.length} bytes; the limit is ${MAX_TOKEN_LENGTH}).`);
  }
  const bad = (reason: string) =>
    new AuthError(
      "InvalidAuthHeader",
      "Could not parse JWT payload. Check that the token is a valid JWT format with three base64-encoded parts separated by dots.",
      reason,
    );
  const parts = token.split(".");
  if (parts.length !== 3) throw bad(parts.length === 5 ? "encrypted JWTs (JWE) are not supported" : `expected 3 parts, found ${parts.length}`);
  if (!parts.every((p) => JWS_PART.test(p))) throw bad("a part is not base64url");
  if (parts[0] === "" || parts[1] === "") throw bad("empty header or payload");
  const decode = (part: string, what: string): Record<string, unknown> => {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64url.decode(part)));
    } catch {
      throw bad(`the ${what} is not base64url-encoded JSON`);
    }
    if (!isJsonObject(value)) throw bad(`the ${what} is not a JSON object`);
    return value;
  };
  const header = decode(parts[0], "header");
  const payload = decode(parts[1], "payload");
  if (header.b64 === false) throw bad("unencoded payloads (b64: false) are not supported");
  return { header, payload };
}

/** The `aud` claim as a list (a single string or an array; anything else holds none). */
export function audienceList(aud: unknown): string[] {
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === "string");
  return [];
}

/** A NumericDate (seconds since the epoch) as an ISO time, for error messages. */
export function isoSeconds(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString();
}

