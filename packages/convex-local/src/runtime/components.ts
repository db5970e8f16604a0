/**
 * Convex components inside one deployment: every component instance (`app.use(definition, { name })`
 * in a `convex.config.ts`, at any depth) gets its own function namespace and its own tables.
 *
 * convex-local keeps one flat catalog of modules and functions and one store of tables, and gives
 * each instance a namespace in both: the instance at component path `rateLimiter/batchWorker` (names
 * from the app down, as Convex's ComponentPath) has the namespace `@rateLimiter@batchWorker`, its
 * modules are installed under `@rateLimiter@batchWorker/<module path>`, its functions are
 * `@rateLimiter@batchWorker/<module>:<export>` and its table `shards` is stored as
 * `@rateLimiter@batchWorker/shards`. The app's namespace is empty, so its modules, functions and
 * tables keep their own names. `@` can appear in no path or table name the app or a client writes
 * (Convex allows `[A-Za-z0-9_.]` in module paths and identifiers in table names), so no name of one
 * namespace can reach into another.
 *
 * System tables are namespaced the same way: as on Convex (convex-backend crates/model/src/lib.rs
 * `component_system_tables`, created for each instance by `initialize_component_namespace` in
 * crates/model/src/components/config.rs), each instance has its own `_scheduled_functions` and
 * `_storage`, stored as `@rateLimiter/_scheduled_functions` and `@rateLimiter/_storage`; the app's
 * are `_scheduled_functions` and `_storage`. (Data directories from before this kept every job and
 * file in the app's tables; they stay there, the app's, and the scheduler still runs such a job by
 * the qualified name it was stored under.)
 *
 * @example
 * ```ts
 * namespaceOf("rateLimiter/batchWorker"); // "@rateLimiter@batchWorker"
 * qualifiedPath("@rateLimiter", "lib:checkRateLimit"); // "@rateLimiter/lib:checkRateLimit"
 * referencedFunction("", "_reference/childComponent/rateLimiter/lib/checkRateLimit");
 * // "@rateLimiter/lib:checkRateLimit"
 * ```
 */

/** One instance in the deployment's component tree (the app is the root, at path ""). */
export interface ComponentInstance {
  /** Names from the app down, joined by `/` ("" for the app). */
  path: string;
  /** The definition it instantiates (the CLI's componentDefinitionPath; "" for the app). */
  definitionPath: string;
  children: Record<string, ComponentInstance>;
}

const MARK = "@";

export class ComponentReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ComponentReferenceError";
  }
}

/** The namespace of the instance at `componentPath` ("" for the app). */
export function namespaceOf(componentPath: string): string {
  return componentPath === "" ? "" : MARK + componentPath.split("/").join(MARK);
}

/** The component path of a namespace (the inverse of {@link namespaceOf}). */
export function componentPathOf(namespace: string): string {
  return namespace === "" ? "" : namespace.slice(1).split(MARK).join("/");
}

/** The namespace a qualified module path, function path or stored table name belongs to. */
export function namespaceOfName(name: string): string {
  if (!name.startsWith(MARK)) return "";
  const slash = name.indexOf("/");
  return slash === -1 ? name : name.slice(0, slash);
}

/** `name` (a module path, function path or table name) without its namespace. */
export function localName(name: string): string {
  const namespace = namespaceOfName(name);
  return namespace === "" ? name : name.slice(namespace.length + 1);
}

/** A module path, function path or table name of `namespace`, as the flat catalog and the store hold it. */
export function qualifiedPath(namespace: string, name: string): string {
  return namespace === "" ? name : `${namespace}/${name}`;
}

/** A qualified name as people read it: `<component path>/<name>` for a component's, the name itself for the app's. */
export function displayName(name: string): string {
  const namespace = namespaceOfName(name);
  return namespace === "" ? name : `${componentPathOf(namespace)}/${localName(name)}`;
}

/** Whether a function path or module path names something inside a component. */
export function isComponentName(name: string): boolean {
  return name.startsWith(MARK);
}

/** The stored name of `table` as code in `namespace` names it (system tables included: each namespace has its own). */
export function storedTableName(namespace: string, table: string): string {
  return qualifiedPath(namespace, table);
}

/** The name code in `namespace` knows a stored table by, or null when the table is another namespace's. */
export function visibleTableName(namespace: string, stored: string): string | null {
  if (namespaceOfName(stored) !== namespace) return null;
  return localName(stored);
}

/** Whether a stored table is a system table (`_…`) of whichever namespace it belongs to. */
export function isSystemTableName(stored: string): boolean {
  return localName(stored).startsWith("_");
}

/**
 * The qualified function a syscall's reference names, from code running in `namespace`:
 * `_reference/childComponent/<child>/<module path…>/<export>` is a function of the caller's child.
 */
export function referencedFunction(namespace: string, reference: string): string {
  const prefix = "_reference/childComponent/";
  if (!reference.startsWith(prefix)) throw new ComponentReferenceError(`Unsupported function reference ${JSON.stringify(reference)}`);
  const parts = reference.slice(prefix.length).split("/");
  if (parts.length < 3 || parts.some((part) => part === "" || part.includes(MARK))) {
    throw new ComponentReferenceError(`Invalid function reference ${JSON.stringify(reference)}: expected _reference/childComponent/<component>/<module>/<function>`);
  }
  const [child, ...rest] = parts;
  const exportName = rest.pop()!;
  const childNamespace = namespace === "" ? MARK + child : `${namespace}${MARK}${child}`;
  return qualifiedPath(childNamespace, `${rest.join("/")}:${exportName}`);
}

/**
 * The qualified path of `udfPath` in the component at `componentPath` (a client's `componentPath`,
 * e.g. `npx convex run --component <path>`); the app's own path for an empty or absent one.
 * Resolving it still requires the admin key (functionCatalog.ts).
 */
export function componentFunctionPath(componentPath: string | undefined, udfPath: string): string {
  if (componentPath === undefined || componentPath === "") return udfPath;
  if (!componentPath.split("/").every((name) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))) {
    throw new ComponentReferenceError(`Invalid component path ${JSON.stringify(componentPath.slice(0, 200))}: component names joined by "/"`);
  }
  return qualifiedPath(namespaceOf(componentPath), udfPath);
}

/** Every instance of the tree, the app first, parents before children. */
export function instancesOf(root: ComponentInstance): ComponentInstance[] {
  const all: ComponentInstance[] = [];
  const visit = (instance: ComponentInstance) => {
    all.push(instance);
    for (const child of Object.values(instance.children)) visit(child);
  };
  visit(root);
  return all;
}
