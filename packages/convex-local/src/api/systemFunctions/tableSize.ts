/**
 * `_system/cli/tableSize`: the number of documents of one table of the app or of a component —
 * npm-packages/system-udfs/convex/_system/cli/tableSize.ts (`db.query(tableName).count()`, 0 for a
 * table that does not exist). The CLI asks it for every table a push removes an index from, to warn
 * before dropping a large one (convex `checkForLargeIndexDeletion`).
 */
import { v } from "convex/values";
import { storedTableName } from "../../runtime/components.js";
import { argsValidator, type SystemQuery } from "./systemQuery.js";

export const tableSize: SystemQuery = {
  args: argsValidator({ tableName: v.string() }),
  inComponents: true,
  run: ({ storage }, args, _journal, namespace) => ({ value: storage.countDocuments(storedTableName(namespace, (args as { tableName: string }).tableName)) }),
};
