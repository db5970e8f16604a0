/**
 * Baseline of figure 1: a bare `node:http` server that reads and parses the request body and
 * answers with the JSON in BENCH_RESPONSE (what convex-local answers to the same query).
 */
import http from "node:http";

const response = process.env.BENCH_RESPONSE;
const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    JSON.parse(body);
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(response) });
    res.end(response);
  });
});
server.listen(0, "127.0.0.1", () => console.log(`ready ${server.address().port}`));
