/**
 * `_system/frontend/components:list`: the deployment's component instances — the app (path "")
 * and every component at any depth — as npm-packages/system-udfs/convex/_system/frontend/components.ts
 * lists its `_components` documents: `{ id, name, path, args, state, httpPrefix }`. The CLI looks
 * a `--component <path>` up here for `npx convex run --inline-query` (and sends the id back in
 * `/api/run_test_function`'s `componentId`). Ids are convex-local's own (runtime/componentIds.ts);
 * a component removed from `convex.config.ts` whose tables are kept is listed `unmounted`, as on Convex.
 * Component arguments and HTTP mounts are not kept here: `args` is `{}` and `httpPrefix` null.
 */
import { componentIdOf, installedNamespaces } from "../../runtime/componentIds.js";
import { componentPathOf, namespaceOf, namespaceOfName } from "../../runtime/components.js";
import { argsValidator, type SystemQuery } from "./systemQuery.js";

export const listComponents: SystemQuery = {
  args: argsValidator({}),
  run: ({ analysis, storage }) => {
    const installed = installedNamespaces(analysis());
    const stored = new Set(storage.listTables().map(({ name }) => namespaceOfName(name)));
    const paths = [...new Set([...installed, ...stored])].map(componentPathOf).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      value: paths.map((path) => ({
        id: componentIdOf(path),
        // The app's document has no name: the field is left out, as Convex leaves out an undefined field.
        ...(path === "" ? {} : { name: path.slice(path.lastIndexOf("/") + 1) }),
        path,
        args: {},
        state: installed.has(namespaceOf(path)) ? "active" : "unmounted",
        httpPrefix: null,
      })),
    };
  },
};
