// Types for dev-services.mjs, which `npm run dev` runs as plain JavaScript and the e2e tests import.
export interface MailServer {
  port: number;
  /** `smtp://127.0.0.1:<port>`, the app's EMAIL_SERVER. */
  url: string;
  mailboxDir: string;
  close(): Promise<void>;
}
export function startMailServer(options: { port?: number; mailboxDir: string }): Promise<MailServer>;

export const DEV_ACCOUNT: Readonly<{ username: string; password: string; sub: string; email: string; name: string }>;

export interface IdentityProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}
export function startIdentityProvider(options: {
  port?: number;
  clientId: string;
  clientSecret: string;
  appOrigins: string[];
}): Promise<IdentityProvider>;
