/**
 * `_system/cli/tables`: the deployment's tables, without the system tables, behind `npx convex
 * data` — npm-packages/system-udfs/convex/_system/cli/tables.ts, which lists the table mapping in
 * table-number order and answers one page that is always the last.
 */
import { paginationOptsValidator } from "convex/server";
import { namespaceOfName } from "../../runtime/components.js";
import { argsValidator, type SystemQuery } from "./systemQuery.js";

export const tables: SystemQuery = {
  args: argsValidator({ paginationOpts: paginationOptsValidator }),
  run: ({ storage }) => ({
    value: {
      page: storage
        .listTables()
        // The app's own tables: components' tables are theirs (runtime/components.ts).
        .filter(({ name }) => !name.startsWith("_") && namespaceOfName(name) === "")
        .map(({ name }) => ({ name })),
      isDone: true,
      continueCursor: "end",
    },
  }),
};
