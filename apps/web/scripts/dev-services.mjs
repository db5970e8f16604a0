/**
 * The local stand-ins for outside services that sign-in needs, started in-process by `npm run dev`
 * and by the end-to-end tests, on 127.0.0.1 only:
 *
 *  - a real SMTP server (`smtp-server`) that keeps every message it receives as a JSON file in a
 *    mailbox directory, which the dev-only mailbox page (app/dev/mailbox) reads;
 *  - a real OpenID Connect provider (`oidc-provider`) with one development account and its own
 *    login and consent pages, so Auth.js's generic OIDC path runs end to end.
 */
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { simpleParser } from "mailparser";
import Provider from "oidc-provider";
import { SMTPServer } from "smtp-server";

/** Bigger messages are refused: a sign-in email is a few kilobytes. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Starts the SMTP server. Each accepted message becomes `<mailboxDir>/<time>-<uuid>.json` with
 * `{ id, date, from, to, subject, text }`, which the mailbox page (app/dev/mailbox) lists.
 */
export async function startMailServer({ port = 0, mailboxDir }) {
  mkdirSync(mailboxDir, { recursive: true });
  const server = new SMTPServer({
    // Local delivery only: no TLS to negotiate, no accounts to log in to.
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    size: MAX_MESSAGE_BYTES,
    banner: "convex-authjs development mail server",
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          if (stream.sizeExceeded) throw Object.assign(new Error("Message exceeds the size limit"), { responseCode: 552 });
          const id = `${Date.now()}-${randomUUID()}`;
          const message = {
            id,
            date: new Date().toISOString(),
            from: parsed.from?.text ?? session.envelope.mailFrom?.address ?? "",
            to: session.envelope.rcptTo.map((recipient) => recipient.address),
            subject: parsed.subject ?? "",
            text: parsed.text ?? "",
          };
          writeFileSync(path.join(mailboxDir, `${id}.json`), JSON.stringify(message, null, 2));
          callback();
        })
        .catch((error) => callback(error));
    },
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const { port: boundPort } = server.server.address();
  return {
    port: boundPort,
    /** What the app's EMAIL_SERVER points at. */
    url: `smtp://127.0.0.1:${boundPort}`,
    mailboxDir,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------- OpenID provider

/** The one account of the development identity provider. */
export const DEV_ACCOUNT = Object.freeze({
  username: "dev",
  password: "dev",
  sub: "dev-user",
  email: "dev@idp.localhost",
  name: "Dev User",
});

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label,input,button{display:block;margin:.4rem 0}input{width:100%;padding:.4rem}p.error{color:#b00020}</style>
</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function sameText(a, b) {
  const left = Buffer.from(String(a));
  const right = Buffer.from(String(b));
  return left.length === right.length && timingSafeEqual(left, right);
}

async function readForm(request) {
  let body = "";
  for await (const chunk of request) {
    body += chunk;
    if (body.length > 10_000) throw new Error("form too large");
  }
  return new URLSearchParams(body);
}

/**
 * Starts the OpenID provider at `http://127.0.0.1:<port>`, with one confidential client whose
 * redirect URIs are `<origin>/api/auth/callback/oidc` for each of `appOrigins`.
 */
export async function startIdentityProvider({ port = 0, clientId, clientSecret, appOrigins }) {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;
  // Fresh keys per start: Auth.js reads the provider's JWKS through discovery on every sign-in.
  const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: appOrigins.map((origin) => `${origin}/api/auth/callback/oidc`),
        grant_types: ["authorization_code"],
        response_types: ["code"],
      },
    ],
    jwks: { keys: [{ ...signingKey, use: "sig", alg: "RS256", kid: "dev" }] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    // Auth.js builds the profile from the ID token alone.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      if (sub !== DEV_ACCOUNT.sub) return undefined;
      return {
        accountId: sub,
        claims: () => ({ sub, email: DEV_ACCOUNT.email, email_verified: true, name: DEV_ACCOUNT.name }),
      };
    },
  });
  const handleProtocol = provider.callback();

  async function handleInteraction(request, response, uid, step) {
    const details = await provider.interactionDetails(request, response);
    if (details.uid !== uid) throw new Error("interaction mismatch");
    const client = await provider.Client.find(details.params.client_id);
    const html = (body) => {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      response.end(page(details.prompt.name === "login" ? "Sign in to the development IdP" : "Allow access", body));
    };
    const loginForm = (error) =>
      html(`<p>Development account: <b>${DEV_ACCOUNT.username}</b>, password <b>${DEV_ACCOUNT.password}</b>.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>`);

    if (request.method === "GET" && step === undefined) {
      if (details.prompt.name === "login") return loginForm();
      return html(`<p><b>${escapeHtml(client?.clientId ?? "The app")}</b> asks for your ${escapeHtml(
        [...(details.prompt.details.missingOIDCScope ?? [])].join(", ") || "profile",
      )}.</p><form method="post" action="/interaction/${escapeHtml(uid)}/confirm"><button type="submit">Allow</button></form>`);
    }
    if (request.method === "POST" && step === "login" && details.prompt.name === "login") {
      const form = await readForm(request);
      if (!sameText(form.get("username") ?? "", DEV_ACCOUNT.username) || !sameText(form.get("password") ?? "", DEV_ACCOUNT.password)) {
        return loginForm("Wrong username or password.");
      }
      return provider.interactionFinished(request, response, { login: { accountId: DEV_ACCOUNT.sub } }, { mergeWithLastSubmission: false });
    }
    if (request.method === "POST" && step === "confirm" && details.prompt.name === "consent") {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      const { missingOIDCScope, missingOIDCClaims } = details.prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      const grantId = await grant.save();
      return provider.interactionFinished(request, response, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    response.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
    response.end(`Unexpected ${request.method} for the ${details.prompt.name} step.`);
  }

  server.on("request", (request, response) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/.exec(new URL(request.url, issuer).pathname);
    if (!match) return handleProtocol(request, response);
    handleInteraction(request, response, match[1], match[2]).catch((error) => {
      if (response.headersSent) return response.destroy(error);
      response.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      response.end(`This sign-in attempt cannot continue (${error.message}). Start again from the app.`);
    });
  });

  return {
    issuer,
    clientId,
    clientSecret,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
