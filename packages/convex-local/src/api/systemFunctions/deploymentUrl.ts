/**
 * `_system/cli/convexUrl:cloudUrl`: the deployment's URL as functions see it (`CONVEX_CLOUD_URL`),
 * which `npx convex function-spec` puts beside the functions — as
 * npm-packages/system-udfs/convex/_system/cli/convexUrl.ts.
 */
import { argsValidator, type SystemQuery } from "./systemQuery.js";

export const cloudUrl: SystemQuery = {
  args: argsValidator({}),
  run: ({ systemEnvironment }) => ({ value: systemEnvironment.CONVEX_CLOUD_URL! }),
};
