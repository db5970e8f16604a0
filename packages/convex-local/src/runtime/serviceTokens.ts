/**
 * `getServiceToken(service)` and `getServiceUrl(service)` of `convex/server` (syscalls
 * `1.0/createServiceToken` and `1.0/getServiceUrl`, actions only), as a self-hosted Convex backend
 * answers them: the only service Convex knows is `"ai-gateway"`
 * (crates/isolate/src/environment/action/async_syscall.rs `Service`), and only Convex Cloud runs it —
 * local_backend starts without a token minter, so `getServiceToken` fails with `AiGatewayUnavailable`
 * (crates/application/src/application_function_runner/mod.rs `mint_ai_gateway_jwt`). Convex's
 * backend code for `getServiceUrl` is not public (the package has called it since 1.48 at least);
 * it is answered here with the same refusal, naming itself. In a query or mutation both syscalls are
 * unknown, as on Convex.
 *
 * @example
 * serviceSyscall("getServiceToken", { service: "ai-gateway" }) // throws: `getServiceToken("ai-gateway")` isn't available on this deployment …
 */

/** The syscall each function of `convex/server` makes. */
const SYSCALLS = { getServiceToken: "createServiceToken", getServiceUrl: "getServiceUrl" } as const;

export function serviceSyscall(userFunction: keyof typeof SYSCALLS, args: unknown): never {
  const service = typeof args === "object" && args !== null ? (args as { service?: unknown }).service : undefined;
  if (service === "ai-gateway") {
    throw new Error(
      `\`${userFunction}("ai-gateway")\` isn't available on this deployment because the AI gateway is a Convex Cloud service. ` +
        "Deploy to Convex Cloud, or call your model provider directly with your own API key.",
    );
  }
  // serde's words for an argument that is no known service.
  const problem = typeof service === "string" ? `unknown variant \`${service}\`, expected \`ai-gateway\`` : service === undefined ? "missing field `service`" : `invalid type: ${typeof service}, expected \`ai-gateway\``;
  throw new Error(`Invalid arguments for \`${SYSCALLS[userFunction]}\`: ${problem}`);
}
