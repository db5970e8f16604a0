/**
 * The executor side of evaluating a `convex.config.js` (the app's or a component's definition): the
 * bundle's default export is the `convex/server` definition object, and its `export()` describes
 * it — `{ name?, definitionType, childComponents: [{name, path, args, env}], httpMounts, exports }`
 * (convex's server/components/index.ts). The components it `use`s are synthetic modules the host
 * adds under `_componentDeps/<base64url of the definition path>` (componentPush.ts), as Convex's
 * definition environment provides them (crates/isolate/src/environment/component_definitions.rs).
 */
type Load = (modulePath: string) => Record<string, unknown>;

/** Loads `modulePath` and returns its definition's description as plain data (JSON text). */
export function readComponentDefinition(load: Load, modulePath: string): string {
  const definition = load(modulePath).default as { export?: () => unknown } | undefined;
  if (definition === undefined || definition === null || typeof definition.export !== "function") {
    throw new Error(`${modulePath} must default-export the result of defineApp() or defineComponent()`);
  }
  return JSON.stringify(definition.export());
}
