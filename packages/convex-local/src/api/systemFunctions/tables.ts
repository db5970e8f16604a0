/**
 * `_system/cli/tables`: the tables of the app or of one component, without the system tables,
 * behind `npx convex data [--component <path>]` — npm-packages/system-udfs/convex/_system/cli/tables.ts,
 * which lists the table mapping of the namespace it runs in, in table-number order, and answers
 * one page that is always the last.
 */
import { paginationOptsValidator } from "convex/server";
import { isSystemTableName, localName, namespaceOfName } from "../../runtime/components.js";
import { argsValidator, type SystemQuery } from "./systemQuery.js";

export const tables: SystemQuery = {
  args: argsValidator({ paginationOpts: paginationOptsValidator }),
  inComponents: true,
  run: ({ storage }, _args, _journal, namespace) => ({
    value: {
      page: storage
        .listTables()
        // The namespace's own tables, by the names its code uses (runtime/components.ts).
        .filter(({ name }) => !isSystemTableName(name) && namespaceOfName(name) === namespace)
        .map(({ name }) => ({ name: localName(name) })),
      isDone: true,
      continueCursor: "end",
    },
  }),
};
