import { describe, expect, it } from "vitest";
import { callEnvironment, splitEnvironment } from "./componentEnvironment.js";

describe("components' environment variables", () => {
  const system = { CONVEX_SITE_URL: "http://127.0.0.1:3211" };

  it("carries each component's bindings and the system variables under its namespace", () => {
    const environment = callEnvironment({ KEY: "k", SECRET: "s" }, system, {
      "@echo": { GREETING: { type: "value", value: "hi" }, TOKEN: { type: "envVar", name: "SECRET" }, MISSING: { type: "envVar", name: "UNSET" } },
      "@bare": {},
    });
    expect(environment).toEqual({
      KEY: "k",
      SECRET: "s",
      CONVEX_SITE_URL: "http://127.0.0.1:3211",
      "@echo/CONVEX_SITE_URL": "http://127.0.0.1:3211",
      "@echo/GREETING": "hi",
      "@echo/TOKEN": "s",
      "@bare/CONVEX_SITE_URL": "http://127.0.0.1:3211",
    });
  });

  it("splits a call's environment back into the app's and each component's", () => {
    expect(splitEnvironment({ KEY: "k", "@echo/GREETING": "hi", "@a@b/X": "x" })).toEqual({ app: { KEY: "k" }, components: { "@echo": { GREETING: "hi" }, "@a@b": { X: "x" } } });
  });
});
