// Accept the tokens the Next.js server mints for Auth.js sessions
// (issuer CONVEX_SITE_URL, keys from this deployment's JWKS, one provider per signing algorithm, so a
// key rotation to another algorithm needs no push).
import { defineAuthConfig } from "convex-authjs/convex";

export default defineAuthConfig();
