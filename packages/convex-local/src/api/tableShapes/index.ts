/**
 * `GET /api/shapes2`: the inferred shape of each of the deployment's tables, by table name, as
 * crates/local_backend/src/dashboard.rs `shapes2` answers the dashboard and the MCP server's
 * `tables` tool. Convex keeps every table's shape up to date as documents are written; here it is
 * inferred from the documents when asked (shapeInference.ts), once per commit.
 *
 *   { method: "GET", path: "/api/shapes2", access: "admin", handler: (route) => shapes.serve(route) }
 */
import { jsonToConvex, type JSONValue } from "convex/values";
import { BY_CREATION_TIME_INDEX, type Storage } from "../../storage/index.js";
import { sendJson } from "../http.js";
import type { RouteRequest } from "../router.js";
import { isSystemTableName, localName, namespaceOf, namespaceOfName } from "../../runtime/components.js";
import { dashboardShape } from "./dashboardShape.js";
import { insertValue, NEVER } from "./shapeInference.js";

export class TableShapes {
  /** The last answer and the state of the database it is for (the latest commit and the tables). */
  private latest: { state: string; shapes: Record<string, JSONValue> } | undefined;

  constructor(private readonly storage: Storage) {}

  serve({ request, response }: RouteRequest): void {
    const component = new URL(request.url ?? "/", "http://localhost").searchParams.get("component") ?? "";
    const namespace = namespaceOf(component);
    // The tables of one component (the app's without `?component=`), by the names its code uses.
    const shapes: Record<string, JSONValue> = {};
    for (const [stored, shape] of Object.entries(this.shapes())) {
      if (namespaceOfName(stored) === namespace) shapes[localName(stored)] = shape;
    }
    sendJson(response, 200, shapes);
  }

  /** Each user table's shape, in table-number order (Convex's follows its internal table ids). */
  private shapes(): Record<string, JSONValue> {
    const { storage } = this;
    return storage.readSnapshot((commitTs) => {
      const tables = storage.listTables();
      const state = `${commitTs} ${JSON.stringify(tables)}`;
      if (this.latest?.state === state) return this.latest.shapes;
      const shapes: Record<string, JSONValue> = {};
      const tableNames = (table: number) => storage.tableName(table);
      for (const { name } of tables) {
        if (isSystemTableName(name)) continue;
        let shape = NEVER;
        // Creation order: the order the documents of a table never deleted from were inserted in.
        for (const row of storage.scanIndex(name, BY_CREATION_TIME_INDEX, { lowerInclusive: true, upperInclusive: false }, "asc")) {
          shape = insertValue(shape, jsonToConvex(JSON.parse(row.json) as JSONValue));
        }
        shapes[name] = dashboardShape(shape, tableNames);
      }
      this.latest = { state, shapes };
      return shapes;
    });
  }
}
