/**
 * Baseline of figure 2: a bare `node:http` server that inserts each request's document with
 * better-sqlite3 in its own transaction, durable before it answers (WAL, synchronous=FULL, as
 * convex-local's storage), into a table with the same secondary index.
 */
import http from "node:http";
import path from "node:path";
import Database from "better-sqlite3";

const db = new Database(path.join(process.env.BENCH_DATA_DIR, "baseline.sqlite3"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, key REAL NOT NULL, value TEXT NOT NULL); CREATE INDEX items_by_key ON items (key, id)");
const insert = db.prepare("INSERT INTO items (key, value) VALUES (?, ?)");

const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    const { args } = JSON.parse(body);
    const { lastInsertRowid } = insert.run(args.key, args.value);
    const answer = JSON.stringify({ status: "success", value: String(lastInsertRowid), logLines: [] });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.listen(0, "127.0.0.1", () => console.log(`ready ${server.address().port}`));
