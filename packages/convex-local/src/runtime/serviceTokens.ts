/**
 * `getServiceToken(service)` of `convex/server` (syscall `1.0/createServiceToken`, actions only), as
 * a self-hosted Convex backend answers it: the only service Convex knows is `"ai-gateway"`
 * (crates/isolate/src/environment/action/async_syscall.rs `Service`), and only Convex Cloud can mint
 * its tokens — local_backend starts without a minter, so the call fails with `AiGatewayUnavailable`
 * (crates/application/src/application_function_runner/mod.rs `mint_ai_gateway_jwt`). In a query or
 * mutation the syscall is unknown, as on Convex.
 *
 * @example
 * createServiceToken({ service: "ai-gateway" }) // throws: `getServiceToken("ai-gateway")` isn't available on this deployment …
 */

export function createServiceToken(args: unknown): never {
  const service = typeof args === "object" && args !== null ? (args as { service?: unknown }).service : undefined;
  if (service === "ai-gateway") {
    throw new Error(
      '`getServiceToken("ai-gateway")` isn\'t available on this deployment because the AI gateway is a Convex Cloud service. ' +
        "Deploy to Convex Cloud, or call your model provider directly with your own API key.",
    );
  }
  // serde's words for an argument that is no known service.
  const problem = typeof service === "string" ? `unknown variant \`${service}\`, expected \`ai-gateway\`` : service === undefined ? "missing field `service`" : `invalid type: ${typeof service}, expected \`ai-gateway\``;
  throw new Error(`Invalid arguments for \`createServiceToken\`: ${problem}`);
}
