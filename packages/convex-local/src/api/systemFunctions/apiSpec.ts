/**
 * `_system/cli/modules:apiSpec`: every function of the app (or, run in a component, of the
 * component) with its type, visibility and validators, and every HTTP route — behind `npx convex
 * function-spec`, the MCP server's `functionSpec` tool and `npx convex run [--component]`'s list
 * of available functions. As
 * npm-packages/system-udfs/convex/_system/cli/modules.ts builds it from each module's analysis:
 * `identifier` is `<module path>:<export>` with the module's `.js`; validators are in the form
 * Convex stores them (validatorJson.ts): arguments without a validator are `{ "type": "any" }`, a
 * return value without one is null.
 */
import { localName, namespaceOfName } from "../../runtime/components.js";
import { v, type JSONValue } from "convex/values";
import type { ValidatorJson } from "../../runtime/validator.js";
import { argsValidator, requireApp, type SystemQuery } from "./systemQuery.js";
import { validatorJson } from "./validatorJson.js";

/** What modules.ts puts in place of a validator the analysis did not report at all. */
const ANY_VALIDATOR: JSONValue = { type: "any" };

export const apiSpec: SystemQuery = {
  args: argsValidator({ componentId: v.optional(v.union(v.string(), v.null())) }),
  inComponents: true,
  run: ({ analysis }, { componentId }, _journal, namespace) => {
    requireApp(componentId);
    const spec: JSONValue[] = [];
    for (const [modulePath, module] of Object.entries(analysis()?.modules ?? {})) {
      // The namespace's own modules, by their paths inside it (runtime/components.ts).
      if (namespaceOfName(modulePath) !== namespace) continue;
      for (const fn of module.functions) {
        spec.push({
          identifier: `${localName(modulePath)}:${fn.name}`,
          functionType: fn.udfType,
          visibility: fn.visibility ?? { kind: "public" },
          args: storedValidator(fn.args),
          returns: storedValidator(fn.returns),
        });
      }
      for (const { route } of module.httpRoutes ?? []) {
        spec.push({ functionType: "HttpAction", method: route.method, path: route.path });
      }
    }
    return { value: spec };
  },
};

/** A validator as `exportArgs()`/`exportReturns()` pushed it (JSON text; `null` for no return validator), as Convex stores it. */
function storedValidator(exported: string | null): JSONValue {
  if (exported === null) return ANY_VALIDATOR;
  const parsed = JSON.parse(exported) as ValidatorJson | null;
  return parsed === null ? null : validatorJson(parsed);
}
