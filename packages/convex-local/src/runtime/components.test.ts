import { describe, expect, it } from "vitest";
import {
  ComponentReferenceError,
  componentFunctionPath,
  componentPathOf,
  displayName,
  isSystemTableName,
  namespaceOf,
  qualifiedPath,
  referencedFunction,
  storedTableName,
  visibleTableName,
} from "./components.js";
import { resolveModulePath } from "./modules.js";

describe("component namespaces", () => {
  it("names an instance's namespace from its path and back", () => {
    expect(namespaceOf("")).toBe("");
    expect(namespaceOf("rateLimiter/batchWorker")).toBe("@rateLimiter@batchWorker");
    expect(componentPathOf("@rateLimiter@batchWorker")).toBe("rateLimiter/batchWorker");
    expect(displayName("@rateLimiter@batchWorker/lib:run")).toBe("rateLimiter/batchWorker/lib:run");
    expect(displayName("messages:list")).toBe("messages:list");
  });

  it("resolves a reference relative to the calling component", () => {
    expect(referencedFunction("", "_reference/childComponent/counter/public/add")).toBe("@counter/public:add");
    expect(referencedFunction("@workflow", "_reference/childComponent/workpool/lib/enqueue")).toBe("@workflow@workpool/lib:enqueue");
    expect(referencedFunction("", "_reference/childComponent/c/dir/mod/fn")).toBe("@c/dir/mod:fn");
    expect(() => referencedFunction("", "_reference/childComponent/c/fn")).toThrow(ComponentReferenceError);
    expect(() => referencedFunction("", "_reference/childComponent/@x/mod/fn")).toThrow(ComponentReferenceError);
  });

  it("qualifies a client's componentPath, refusing one that is not names joined by /", () => {
    expect(componentFunctionPath(undefined, "a:b")).toBe("a:b");
    expect(componentFunctionPath("", "a:b")).toBe("a:b");
    expect(componentFunctionPath("x/y", "a:b")).toBe("@x@y/a:b");
    expect(() => componentFunctionPath("x/@y", "a:b")).toThrow(ComponentReferenceError);
    expect(() => componentFunctionPath("../x", "a:b")).toThrow(ComponentReferenceError);
  });

  it("keeps tables of one namespace out of another, system tables included", () => {
    expect(storedTableName("@c", "shards")).toBe("@c/shards");
    expect(storedTableName("", "shards")).toBe("shards");
    expect(storedTableName("@c", "_scheduled_functions")).toBe("@c/_scheduled_functions");
    expect(storedTableName("", "_storage")).toBe("_storage");
    expect(visibleTableName("@c", "@c/shards")).toBe("shards");
    expect(visibleTableName("", "@c/shards")).toBeNull();
    expect(visibleTableName("@c", "shards")).toBeNull();
    expect(visibleTableName("@c@d", "@c/shards")).toBeNull();
    expect(visibleTableName("@c", "@c/_storage")).toBe("_storage");
    expect(visibleTableName("@c", "_storage")).toBeNull();
    expect(visibleTableName("", "@c/_storage")).toBeNull();
    expect(isSystemTableName("@c/_storage")).toBe(true);
    expect(isSystemTableName("_scheduled_functions")).toBe(true);
    expect(isSystemTableName("@c/shards")).toBe(false);
  });

  it("resolves a component module's imports inside its own namespace only", () => {
    expect(resolveModulePath(qualifiedPath("@c", "lib.js"), "./_deps/A.js")).toBe("@c/_deps/A.js");
    expect(resolveModulePath("@c/dir/lib.js", "../_deps/A.js")).toBe("@c/_deps/A.js");
    expect(resolveModulePath("@c/lib.js", "../messages.js")).toBeUndefined();
    expect(resolveModulePath("lib.js", "./@c/lib.js")).toBeUndefined();
    expect(resolveModulePath("dir/lib.js", "../_deps/A.js")).toBe("_deps/A.js");
  });
});
