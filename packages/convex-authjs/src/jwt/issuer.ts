import { MissingEnvironmentVariableError } from "../shared/errors.js";
import { Env } from "../shared/protocol.js";
import { IssuerDerivationError } from "./errors.js";

type Environment = Record<string, string | undefined>;

/**
 * The deployment's HTTP actions origin, which is the token issuer Convex
 * checks. `CONVEX_SITE_URL` when set; otherwise derived from
 * `NEXT_PUBLIC_CONVEX_URL`:
 *
 * - Convex cloud: `https://X.convex.cloud` → `https://X.convex.site`
 *   (regional hosts too);
 * - a local or self-hosted backend on an explicit port serves HTTP actions on
 *   the next port: `http://127.0.0.1:3210` → `http://127.0.0.1:3211`
 *   (convex-local, the self-hosted Docker image, `npx convex dev --local`).
 *
 * Any other URL needs `CONVEX_SITE_URL`.
 */
export function convexSiteUrl(env: Environment = process.env): string {
  const explicit = env[Env.siteUrl]?.trim();
  if (explicit) return explicit.replace(/\/+$/, "");
  const deploymentUrl = env[Env.convexUrl]?.trim();
  if (!deploymentUrl) {
    throw new MissingEnvironmentVariableError(
      Env.siteUrl,
      `set it, or ${Env.convexUrl} to derive it from, so that tokens name their issuer.`,
    );
  }
  let url: URL;
  try {
    url = new URL(deploymentUrl);
  } catch {
    throw new IssuerDerivationError(`${Env.convexUrl} is not a URL: "${deploymentUrl}".`);
  }
  if (url.hostname.endsWith(".convex.cloud")) {
    url.hostname = `${url.hostname.slice(0, -".convex.cloud".length)}.convex.site`;
    return url.origin;
  }
  if (url.port !== "") {
    url.port = String(Number(url.port) + 1);
    return url.origin;
  }
  throw new IssuerDerivationError(
    `Cannot derive the Convex site URL from ${Env.convexUrl}="${deploymentUrl}"; set ${Env.siteUrl} to the URL your deployment serves HTTP actions on.`,
  );
}
