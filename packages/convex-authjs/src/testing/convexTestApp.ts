/**
 * The fixture Convex app (fixtures/convex) on `convex-test`, wired to the
 * adapter through its injectable caller. Test-only; not part of the build.
 */
import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import { ConvexAdapter, type ConvexFunctionCaller } from "../adapter/index.js";
import type { AuthTableName } from "../convex/index.js";
import schema from "../../fixtures/convex/schema.js";
import customUsersSchema from "../../fixtures/custom-users/convex/schema.js";
import type { ConformanceTarget } from "./adapterConformance.js";

const modules = import.meta.glob("../../fixtures/convex/**/*.ts");
const customUsersModules = import.meta.glob("../../fixtures/custom-users/convex/**/*.ts");

export const TEST_SECRET = "test-adapter-secret-0123456789";

export function startFixtureApp() {
  const t = convexTest(schema, modules);
  const caller: ConvexFunctionCaller = {
    query: (reference, args) => t.query(reference, args),
    mutation: (reference, args) => t.mutation(reference, args),
  };
  const readTable = async (name: AuthTableName) =>
    (await t.query(makeFunctionReference<"query">("inspect:table"), { name })) as Record<
      string,
      unknown
    >[];
  return { t, caller, readTable };
}

/** The fixture app whose users carry extra fields (`role`, `phone`). */
export function startCustomUsersApp() {
  const t = convexTest(customUsersSchema, customUsersModules);
  const caller: ConvexFunctionCaller = {
    query: (reference, args) => t.query(reference, args),
    mutation: (reference, args) => t.mutation(reference, args),
  };
  return { t, caller };
}

/**
 * A conformance target on a fresh `convex-test` backend. The deployment's
 * secret is `process.env.CONVEX_AUTH_ADAPTER_SECRET`: stub it to TEST_SECRET.
 */
export function fixtureConformanceTarget(): ConformanceTarget {
  const { caller, readTable } = startFixtureApp();
  return { adapter: ConvexAdapter({ caller, secret: TEST_SECRET }), readTable };
}
