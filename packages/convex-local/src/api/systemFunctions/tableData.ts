/**
 * `_system/cli/tableData`: one page of a table's documents by creation time, behind `npx convex data
 * <table> [--component <path>]` and the MCP server's `data` tool; in a component, of the
 * component's table of that name (its `_storage` and `_scheduled_functions` included). As npm-packages/system-udfs/convex/_system/cli/tableData.ts,
 * it is the query `db.query(table).order(order).paginate(...)` with the page limits of
 * _system/paginationLimits.ts, run here through the same database syscall user queries use, so its
 * cursors, page ends and read set are those of any paginated query. Of the system tables only
 * `_storage` and `_scheduled_functions` are readable (secretSystemTables.ts): another `_` table reads
 * as an empty one.
 */
import { paginationOptsValidator } from "convex/server";
import { v, type JSONValue } from "convex/values";
import { DatabaseSyscalls, type QueryJournal } from "../../runtime/databaseSyscalls.js";
import { Transaction } from "../../transactions/transaction.js";
import { argsValidator, type SystemQuery } from "./systemQuery.js";

/** Convex's limits on one page of a system function (maximumRowsRead, maximumBytesRead). */
const MAXIMUM_ROWS_READ = 10_000;
const MAXIMUM_BYTES_READ = 5_000_000;

/** The system tables a developer may read (secretSystemTables.ts `VIRTUAL_TABLES`). */
const READABLE_SYSTEM_TABLES = new Set(["_storage", "_scheduled_functions"]);
/** What Convex queries instead of a system table no one may read. */
const NONEXISTENT_TABLE = "_guaranteed_nonexistent_table_2508b1e2";

export const tableData: SystemQuery = {
  args: argsValidator({
    table: v.string(),
    order: v.union(v.literal("asc"), v.literal("desc")),
    paginationOpts: paginationOptsValidator,
  }),
  inComponents: true,
  run: ({ storage }, args, journal, namespace) => {
    const table = args.table as string;
    const order = args.order as "asc" | "desc";
    const paginationOpts = args.paginationOpts as { numItems: number; cursor: string | null; endCursor?: string | null };
    const tableName = table.startsWith("_") && !READABLE_SYSTEM_TABLES.has(table) ? NONEXISTENT_TABLE : table;
    return storage.readSnapshot((snapshotTs) => {
      const transaction = new Transaction(storage, false);
      const queryJournal: QueryJournal = { previous: journal, next: null };
      // The result of `paginate`: page, isDone, continueCursor, splitCursor, pageStatus.
      const result = new DatabaseSyscalls(transaction, null, queryJournal, namespace).asyncSyscall("1.0/queryPage", {
        query: { source: { type: "FullTableScan", tableName, order }, operators: [] },
        cursor: paginationOpts.cursor,
        endCursor: paginationOpts.endCursor ?? null,
        pageSize: paginationOpts.numItems,
        maximumRowsRead: MAXIMUM_ROWS_READ,
        maximumBytesRead: MAXIMUM_BYTES_READ,
      }) as JSONValue;
      return { value: result, reads: transaction.reads, snapshotTs, journal: queryJournal.next };
    });
  },
};
