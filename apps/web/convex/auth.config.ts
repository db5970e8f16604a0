// Accept the tokens the Next.js server mints for Auth.js sessions
// (issuer CONVEX_SITE_URL, keys from this deployment's JWKS, aud "convex").
import { defineAuthConfig } from "convex-authjs/convex";

export default defineAuthConfig();
