import { describe, expect, it } from "vitest";
import { flattenComponents, type DefinitionMetadata, type EvaluatedComponents } from "./componentPush.js";
import type { DeploymentAnalysis } from "./functions.js";

const emptyAnalysis = (): DeploymentAnalysis => ({ modules: {}, functions: new Map(), httpRoutes: null, crons: [], schema: null, auth: [] });
const metadata = (path: string, childComponents: DefinitionMetadata["childComponents"], httpMounts: Record<string, string> = {}): DefinitionMetadata => ({
  path,
  definitionType: path === "" ? { type: "app" } : { type: "childComponent", name: path, args: [] },
  childComponents,
  httpMounts,
  exports: { type: "branch", branch: [] },
});

/** The app uses `outer` (binding GREETING and TOKEN), which uses `inner` (binding its own variables to outer's). */
const components: EvaluatedComponents = {
  root: {
    path: "",
    definitionPath: "",
    children: { outer: { path: "outer", definitionPath: "outerDef", children: { inner: { path: "outer/inner", definitionPath: "innerDef", children: {} } } } },
  },
  metadata: new Map([
    ["", metadata("", [{ name: "outer", path: "outerDef", env: [["GREETING", { type: "value", value: "hi" }], ["TOKEN", { type: "envVar", name: "APP_TOKEN" }]] }], { "/outer/": "_reference/childComponent/outer" })],
    ["outerDef", metadata("outerDef", [{ name: "inner", path: "innerDef", env: [["INNER_TOKEN", { type: "envVar", name: "TOKEN" }], ["UNBOUND", { type: "envVar", name: "NOT_BOUND" }], ["LITERAL", { type: "value", value: "x" }]] }])],
    ["innerDef", metadata("innerDef", [])],
  ]),
  definitions: new Map([
    ["outerDef", { metadata: metadata("outerDef", []), modules: new Map(), analysis: emptyAnalysis() }],
    ["innerDef", { metadata: metadata("innerDef", []), modules: new Map(), analysis: emptyAnalysis() }],
  ]),
};

describe("flattening the component tree", () => {
  it("resolves each instance's env bindings up the tree, as Convex's type checking does", () => {
    const { analysis } = flattenComponents(new Map(), emptyAnalysis(), components);
    expect(analysis.componentEnv).toEqual({
      "@outer": { GREETING: { type: "value", value: "hi" }, TOKEN: { type: "envVar", name: "APP_TOKEN" } },
      // A binding to the parent's variable becomes the parent's binding; one the parent lacks is dropped.
      "@outer@inner": { INNER_TOKEN: { type: "envVar", name: "APP_TOKEN" }, LITERAL: { type: "value", value: "x" } },
    });
  });

  it("keeps each namespace's HTTP mounts by child name", () => {
    const { analysis } = flattenComponents(new Map(), emptyAnalysis(), components);
    expect(analysis.httpMounts).toEqual({ "": { "/outer/": "outer" } });
  });

  it("refuses a mount at the path of one of the namespace's own prefix routes, as Convex's type checking does", () => {
    const app = { ...emptyAnalysis(), modules: { "http.js": { functions: [], httpRoutes: [{ route: { path: "/outer/*", method: "GET" }, pos: null }], cronSpecs: null, sourceMapped: null } } } as unknown as DeploymentAnalysis;
    expect(() => flattenComponents(new Map(), app, components)).toThrow('HTTP mount "/outer/" is invalid: Overlap with existing prefix route');
  });
});
