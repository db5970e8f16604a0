// The functions the Auth.js adapter (`ConvexAdapter` in ../auth.ts) calls,
// each guarded by CONVEX_AUTH_ADAPTER_SECRET. Public so the Next.js server
// can reach them, useless without the secret.
import { defineAuthAdapter } from "convex-authjs/convex";

export const {
  createUser,
  getUser,
  getUserByEmail,
  getUserByAccount,
  updateUser,
  deleteUser,
  linkAccount,
  unlinkAccount,
  getAccount,
  createSession,
  getSessionAndUser,
  updateSession,
  deleteSession,
  createVerificationToken,
  useVerificationToken,
  createAuthenticator,
  getAuthenticator,
  listAuthenticatorsByUserId,
  updateAuthenticatorCounter,
  limitMagicLink,
  limitPasskey,
  deleteExpiredAuthData,
} = defineAuthAdapter();
