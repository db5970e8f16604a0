/**
 * Arguments for each adapter function that pass its validators, so that in secret tests the secret
 * check is what decides.
 */
export const VALID_ADAPTER_ARGS: Record<string, Record<string, unknown>> = {
  getUser: { id: "x" },
  getUserByEmail: { email: "a@example.com" },
  getUserByAccount: { provider: "github", providerAccountId: "1" },
  getAccount: { provider: "github", providerAccountId: "1" },
  getSessionAndUser: { sessionToken: "t" },
  getAuthenticator: { credentialID: "c" },
  listAuthenticatorsByUserId: { userId: "x" },
  createUser: { user: { email: "a@example.com" } },
  updateUser: { id: "x", set: { name: "n" }, unset: [] },
  deleteUser: { id: "x" },
  linkAccount: { account: { userId: "x", type: "oauth", provider: "github", providerAccountId: "1" } },
  unlinkAccount: { provider: "github", providerAccountId: "1" },
  createSession: { session: { userId: "x", sessionToken: "t", expires: 1 } },
  updateSession: { sessionToken: "t", expires: 1 },
  deleteSession: { sessionToken: "t" },
  createVerificationToken: { verificationToken: { identifier: "a", token: "t", expires: 1 } },
  useVerificationToken: { identifier: "a", token: "t" },
  createAuthenticator: {
    authenticator: {
      userId: "x",
      credentialID: "c",
      providerAccountId: "p",
      credentialPublicKey: "k",
      counter: 0,
      credentialDeviceType: "singleDevice",
      credentialBackedUp: false,
    },
  },
  updateAuthenticatorCounter: { credentialID: "c", newCounter: 1 },
  limitMagicLink: { address: "a@example.com", client: "203.0.113.7" },
  limitPasskey: { userId: "u1" },
};
