/**
 * `convex/auth.config.ts` at push, evaluated as Convex evaluates it
 * (crates/isolate/src/environment/auth_config.rs): alone, in a run of its own where reading an
 * environment variable the deployment does not set throws, its default export then checked against
 * Convex's schema (crates/common/src/auth.rs) with Convex's texts. A failure fails the push with
 * Convex's code (crates/isolate/src/client.rs `evaluate_auth_config`):
 * `AuthConfigMissingEnvironmentVariable` naming the variable (the CLI then says to set it), or
 * `InvalidAuthConfig`.
 *
 * @example
 * // in the executor, a run with { invoke: readAuthConfig, unsetVariable: unsetVariableError }
 * // on the main thread, when that run failed:
 * throw authConfigFailure(outcome.error, modules);
 */
import { isJsonObject } from "../../storage/documents.js";
import { uncaughtMessage } from "../functionResults.js";
import type { AuthProvider } from "../functions.js";
import type { ThrownError } from "../isolate.js";
import type { CompiledModule } from "../modules.js";
import { PushAnalysisError } from "./moduleAnalysis.js";

export const AUTH_CONFIG_MODULE = "auth.config.js";

const SEE_AUTH_DOCS = "To learn more, see the auth documentation at https://docs.convex.dev/auth.";
const MISSING_VARIABLE = /^Uncaught Error: (Environment variable .*)$/s;
const WORKOS_ISSUERS = new Set(["https://api.workos.com/", "https://api.workos.com"]);
const ALGORITHMS = new Set(["RS256", "ES256"]);

/** What reading `process.env[name]` throws in auth.config when the deployment does not set `name`. */
export function unsetVariableError(name: string): Error {
  return new Error(`Environment variable ${name} is used in auth config file but its value was not set`);
}

/** A default export Convex refuses; its message is Convex's text. */
class AuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthConfigError";
  }
}

/** Convex's refusal of an export whose shape is not a list of providers. */
function notMatchingSchema(detail: string): AuthConfigError {
  return new AuthConfigError(`auth config file must include a list of provider credentials: ${detail}`);
}

/** Loads auth.config.js with `load` (in the executor) and returns its providers, or throws Convex's refusal. */
export function readAuthConfig(load: (modulePath: string) => Record<string, unknown>): AuthProvider[] {
  const config = load(AUTH_CONFIG_MODULE).default;
  if (config === undefined || config === null) throw new AuthConfigError(`auth config file is missing default export. ${SEE_AUTH_DOCS}`);
  let text: string | undefined;
  try {
    text = JSON.stringify(config);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw new AuthConfigError(`auth config file can only contain strings ${SEE_AUTH_DOCS}`);
  // Checked as Convex checks it: on the JSON of the export (a field set to undefined is absent).
  const exported = JSON.parse(text) as unknown;
  checkCommonConfusions(exported);
  return providersOf(exported);
}

/** Convex's `check_for_common_confusions`: mistakes its permissive parsing would let through. */
function checkCommonConfusions(exported: unknown): void {
  const providers = isJsonObject(exported) ? exported.providers : undefined;
  if (!Array.isArray(providers)) return;
  providers.forEach((provider: unknown, index) => {
    if (!isJsonObject(provider)) return;
    const type = typeof provider.type === "string" ? provider.type : "unknown";
    if ("applicationId" in provider || "applicationid" in provider) {
      throw notMatchingSchema(`Provider at index ${index} must have applicationID property spelled lowercase 'application', capital I, capital D.`);
    }
    if (type !== "customJwt" && type !== "oidc" && type !== "unknown") throw notMatchingSchema(`Provider at index ${index} has unexpected 'type' value '${type}'`);
    if (type === "customJwt" && "domain" in provider) throw notMatchingSchema(`Provider at index ${index} is a customJwt so cannot have a 'domain' specified`);
    if (type !== "customJwt" && "issuer" in provider) throw notMatchingSchema(`Provider at index ${index} is oidc so cannot have an 'issuer' specified.`);
    if (!("applicationID" in provider) && typeof provider.issuer === "string" && WORKOS_ISSUERS.has(provider.issuer)) {
      throw new AuthConfigError(
        `This auth configuration appears potentially insecure: Provider at index ${index} has an issuer that is shared among many applications, so must to specify an ApplicationID to check against an \`aud\` field of a JWT.`,
      );
    }
  });
}

/** Convex's `SerializedAuthConfig` parsing (serde's texts) and its URL checks. */
function providersOf(exported: unknown): AuthProvider[] {
  if (!isJsonObject(exported)) throw notMatchingSchema(`invalid type: ${jsonKind(exported)}, expected struct SerializedAuthConfig`);
  if (!("providers" in exported)) throw notMatchingSchema("missing field `providers`");
  if (!Array.isArray(exported.providers)) throw notMatchingSchema(`invalid type: ${jsonKind(exported.providers)}, expected a sequence`);
  return exported.providers.map((provider: unknown): AuthProvider => {
    if (isJsonObject(provider) && provider.type === "customJwt") {
      const issuer = requiredString(provider, "issuer");
      const jwks = requiredString(provider, "jwks");
      const algorithm = requiredString(provider, "algorithm");
      if (!ALGORITHMS.has(algorithm)) throw notMatchingSchema(`unknown variant \`${algorithm}\`, expected \`RS256\` or \`ES256\``);
      const applicationID = provider.applicationID ?? null;
      if (applicationID !== null && typeof applicationID !== "string") throw notMatchingSchema(`invalid type: ${jsonKind(applicationID)}, expected a string`);
      checkDomainUrl(issuer);
      return { type: "customJwt", applicationID, issuer, jwks, algorithm };
    }
    if (!isJsonObject(provider) || typeof provider.domain !== "string" || typeof provider.applicationID !== "string") {
      throw notMatchingSchema("data did not match any variant of untagged enum SerializedAuthInfo");
    }
    checkDomainUrl(provider.domain);
    return { domain: provider.domain, applicationID: provider.applicationID };
  });
}

function requiredString(provider: Record<string, unknown>, field: string): string {
  const value = provider[field];
  if (value === undefined) throw notMatchingSchema(`missing field \`${field}\``);
  if (typeof value !== "string") throw notMatchingSchema(`invalid type: ${jsonKind(value)}, expected a string`);
  return value;
}

/** Convex's `deserialize_issuer_url`: an http(s) URL, or a host name ending in a top-level domain. */
function checkDomainUrl(domain: string): void {
  const invalid = (why: string) => new AuthConfigError(`Invalid provider domain URL "${domain}": ${why}`);
  if (domain.startsWith('"')) throw invalid('starts with a double quote (")');
  const hasScheme = /^\w+:\/\//.test(domain);
  let url: URL;
  try {
    url = new URL(hasScheme ? domain : `https://${domain}`);
  } catch {
    throw invalid("relative URL without a base");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid("scheme should be http or https");
  if (!hasScheme && url.hostname !== "localhost" && !/\.[a-z]{2,}$/i.test(url.hostname)) {
    throw invalid("Does not look like a URL (must have a scheme or end with a top-level domain)");
  }
}

/** serde's name of a JSON value's kind in "invalid type" errors. */
function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "sequence";
  if (typeof value === "string") return `string ${JSON.stringify(value)}`;
  if (typeof value === "boolean") return `boolean \`${value}\``;
  if (typeof value === "number") return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
  return "map";
}

/** The push's refusal of an auth config whose evaluation failed with `error` (main thread). */
export function authConfigFailure(error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): PushAnalysisError {
  if (error.name === "AuthConfigError") return invalidAuthConfig(error.message);
  const text = uncaughtMessage(error, modules);
  const missing = MISSING_VARIABLE.exec(text);
  if (missing !== null) return new PushAnalysisError(missing[1]!, "AuthConfigMissingEnvironmentVariable");
  return invalidAuthConfig(text);
}

/** Convex's `InvalidAuthConfig` refusal: `detail` after its explanation. */
export function invalidAuthConfig(detail: string): PushAnalysisError {
  return new PushAnalysisError(`The pushed auth config is invalid: ${detail}`, "InvalidAuthConfig");
}
