/**
 * Baseline of figure 3: a bare `ws` server; `POST /broadcast` sends the request body to every
 * connected socket, then answers.
 */
import http from "node:http";
import { WebSocketServer } from "ws";

const server = http.createServer((req, res) => {
  let payload = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (payload += chunk));
  req.on("end", () => {
    for (const socket of sockets.clients) socket.send(payload);
    res.writeHead(200, { "Content-Length": 0 });
    res.end();
  });
});
const sockets = new WebSocketServer({ server });
server.listen(0, "127.0.0.1", () => console.log(`ready ${server.address().port}`));
