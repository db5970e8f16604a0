import { describe, expect, it } from "vitest";
import type { DeploymentAnalysis } from "./functions.js";
import { routeHttpRequest } from "./httpRouting.js";

const routes = (...list: [string, string][]) => ({ functions: [], httpRoutes: list.map(([method, path]) => ({ route: { path, method }, pos: null })), cronSpecs: null, sourceMapped: null });

/** The app routes /a and /p/*, mounts x at /x/ and z at /x/deep/; x routes /hello and /x-prefix/*, mounts y at /y/. */
const analysis = {
  modules: {
    "http.js": routes(["GET", "/a"], ["GET", "/p/*"], ["POST", "/x/exact"]),
    "@x/http.js": routes(["GET", "/hello"], ["GET", "/files/*"]),
    "@x@y/http.js": routes(["GET", "/leaf"]),
    "@z/http.js": routes(["GET", "/inside"]),
  },
  httpMounts: { "": { "/x/": "x", "/x/deep/": "z" }, "@x": { "/y/": "y" } },
} as unknown as DeploymentAnalysis;

describe("routing HTTP requests through mounts", () => {
  it("keeps the app's own exact and prefix routes", () => {
    expect(routeHttpRequest(analysis, "/a", "GET")).toEqual({ namespace: "", routedPath: "/a" });
    expect(routeHttpRequest(analysis, "/p/q", "GET")).toEqual({ namespace: "", routedPath: "/p/q" });
    // An exact route beats a mount's prefix.
    expect(routeHttpRequest(analysis, "/x/exact", "POST")).toEqual({ namespace: "", routedPath: "/x/exact" });
  });

  it("passes what follows a mount path to the mounted component, at any depth", () => {
    expect(routeHttpRequest(analysis, "/x/hello", "GET")).toEqual({ namespace: "@x", routedPath: "/hello" });
    expect(routeHttpRequest(analysis, "/x/files/a.txt", "HEAD")).toEqual({ namespace: "@x", routedPath: "/files/a.txt" });
    expect(routeHttpRequest(analysis, "/x/y/leaf", "GET")).toEqual({ namespace: "@x@y", routedPath: "/leaf" });
    // The longest mount path wins.
    expect(routeHttpRequest(analysis, "/x/deep/inside", "GET")).toEqual({ namespace: "@z", routedPath: "/inside" });
  });

  it("leaves an unmatched path to the namespace's router (its 404), or to nobody when it has none", () => {
    expect(routeHttpRequest(analysis, "/nowhere", "GET")).toEqual({ namespace: "", routedPath: "/nowhere" });
    expect(routeHttpRequest(analysis, "/x/y/other", "GET")).toEqual({ namespace: "@x@y", routedPath: "/other" });
    const mountsOnly = { ...analysis, modules: { "@x/http.js": analysis.modules["@x/http.js"] } } as unknown as DeploymentAnalysis;
    expect(routeHttpRequest(mountsOnly, "/elsewhere", "GET")).toBeNull();
    expect(routeHttpRequest({ ...analysis, modules: {}, httpMounts: {} } as unknown as DeploymentAnalysis, "/a", "GET")).toBeNull();
  });

  it("serves the app's own routes under defineApp's httpPrefix, mounts staying absolute", () => {
    const prefixed = { ...analysis, httpPrefix: "/api/" } as unknown as DeploymentAnalysis;
    expect(routeHttpRequest(prefixed, "/api/a", "GET")).toEqual({ namespace: "", routedPath: "/a" });
    expect(routeHttpRequest(prefixed, "/api/p/q", "GET")).toEqual({ namespace: "", routedPath: "/p/q" });
    expect(routeHttpRequest(prefixed, "/x/hello", "GET")).toEqual({ namespace: "@x", routedPath: "/hello" });
    // Outside the prefix the app's router is not asked.
    expect(routeHttpRequest(prefixed, "/a", "GET")).toBeNull();
  });
});
