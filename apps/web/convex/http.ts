import { httpRouter } from "convex/server";
import { addAuthRoutes } from "convex-authjs/convex";

const http = httpRouter();
// GET /.well-known/jwks.json and /.well-known/openid-configuration.
addAuthRoutes(http);
export default http;
