/**
 * `_system/cli/queryEnvironmentVariables` (default export: every variable, by name; `get`: one
 * variable or null), behind `npx convex env list/get` and the MCP server's envList/envGet, as in
 * npm-packages/system-udfs/convex/_system/cli/queryEnvironmentVariables.ts.
 */
import { v } from "convex/values";
import { argsValidator, type SystemQuery } from "./systemQuery.js";

export const listEnvironmentVariables: SystemQuery = {
  args: argsValidator({}),
  run: ({ deployment }) => {
    // Convex reads them through the `by_name` index, in ascending order.
    const environment = deployment.environment();
    const names = Object.keys(environment).sort();
    return { value: names.map((name) => ({ name, value: environment[name]! })) };
  },
};

/** Reads `process.env[name]` on Convex, so `CONVEX_CLOUD_URL` and `CONVEX_SITE_URL` are found too. */
export const getEnvironmentVariable: SystemQuery = {
  args: argsValidator({ name: v.string() }),
  run: ({ deployment, systemEnvironment }, args) => {
    const name = args.name as string;
    const environment = { ...deployment.environment(), ...systemEnvironment };
    return { value: Object.hasOwn(environment, name) ? { name, value: environment[name]! } : null };
  },
};
