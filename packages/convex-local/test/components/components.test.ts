/**
 * Convex components from npm, unchanged: the fixture app (test/fixtures/components) uses
 * `@convex-dev/sharded-counter` twice (as `shardedCounter` and `likesCounter`) and
 * `@convex-dev/rate-limiter` (which itself uses `@convex-dev/batch-worker`), is pushed with the
 * official CLI, and is called through ConvexHttpClient, a live ConvexClient subscription and the
 * CLI, also across a restart of the backend on the same data.
 */
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import yauzl from "yauzl";
import yazl from "yazl";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { decodeJwt } from "jose";
import type { Backend } from "../../src/api/backend.js";
import { Storage } from "../../src/storage/index.js";
import { main } from "../../src/cli/index.js";
import { deployFixture, startTestBackend, waitFor, type TestDeployment } from "../harness.js";

const api = anyApi;

/** Every entry of a ZIP as text, by name. */
async function zipEntries(file: string): Promise<Map<string, string>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.open(file, { lazyEntries: true }, (error, opened) => (error ? reject(error) : resolve(opened))));
  const entries = new Map<string, string>();
  await new Promise<void>((resolve, reject) => {
    zip.on("entry", (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          entries.set(entry.fileName, Buffer.concat(chunks).toString("utf8"));
          zip.readEntry();
        });
      });
    });
    zip.on("end", () => resolve());
    zip.on("error", reject);
    zip.readEntry();
  });
  zip.close();
  return entries;
}
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("components");
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

describe("push", () => {
  it("generates the typed `components` references for every instance", () => {
    const generated = readFileSync(path.join(deployment.appDir, "convex/_generated/api.d.ts"), "utf8");
    expect(generated).toMatch(/shardedCounter: import\("@convex-dev\/sharded-counter\/_generated\/component\.js"\)\.ComponentApi<"shardedCounter">/);
    expect(generated).toMatch(/likesCounter: import\("@convex-dev\/sharded-counter\/_generated\/component\.js"\)\.ComponentApi<"likesCounter">/);
    expect(generated).toMatch(/rateLimiter: import\("@convex-dev\/rate-limiter\/_generated\/component\.js"\)\.ComponentApi<"rateLimiter">/);
  });

  it("types a component's declared environment variables in its generated server file (definitions' envVars reach the CLI)", () => {
    const directory = path.join(deployment.appDir, "convex/echo/_generated");
    const generated = readdirSync(directory).filter((file) => file.startsWith("server.")).map((file) => readFileSync(path.join(directory, file), "utf8")).join("\n");
    expect(generated).toMatch(/GREETING/);
    expect(generated).toMatch(/SECRET/);
  });

  it("re-pushes with `dev --once`", async () => {
    const { stderr } = await deployment.cli(["dev", "--once", "--typecheck", "disable"]);
    expect(stderr).toMatch(/Convex functions ready/);
  });
});

describe("sharded-counter, two instances", () => {
  it("counts in each instance's own tables, apart from the app's table of the same name", async () => {
    await client.mutation(api.counters.addVisit, { page: "home", count: 3 });
    await client.mutation(api.counters.addVisit, { page: "home", count: 4 });
    await client.mutation(api.counters.like, { page: "home" });
    await client.mutation(api.counters.note, { name: "home", note: "the app's own row" });
    expect(await client.query(api.counters.counts, { page: "home" })).toEqual({ visits: 7, likes: 1 });
    // The app's `counters` table holds only the app's document; the component's `counters` rows are its own.
    expect(await client.query(api.counters.appCounters, {})).toEqual([{ name: "home", note: "the app's own row" }]);
  });

  it("reads a component's query from an action", async () => {
    await client.mutation(api.counters.addVisit, { page: "action", count: 5 });
    expect(await client.action(api.crossing.visitsFromAction, { page: "action" })).toBe(5);
  });

  it("calls a component's mutation through a function handle", async () => {
    const handle: string = await client.mutation(api.crossing.likeHandle, {});
    expect(handle).toMatch(/^function:\/\//);
    await client.mutation(api.crossing.addThroughHandle, { handle, page: "handle", count: 2 });
    expect(await client.query(api.counters.counts, { page: "handle" })).toEqual({ visits: 0, likes: 2 });
  });

  it("rolls a component's writes back with the app mutation that called it", async () => {
    await expect(client.mutation(api.crossing.likeThenFail, { page: "rollback" })).rejects.toThrow(/rolled back/);
    expect(await client.query(api.counters.counts, { page: "rollback" })).toEqual({ visits: 0, likes: 0 });
  });

  it("runs a component's function with `npx convex run --component`", async () => {
    await client.mutation(api.counters.like, { page: "cli" });
    const { stdout } = await deployment.cli(["run", "--component", "likesCounter", "public:count", JSON.stringify({ name: "cli" })]);
    expect(stdout.trim()).toBe("1");
    const other = await deployment.cli(["run", "--component", "shardedCounter", "public:count", JSON.stringify({ name: "cli" })]);
    expect(other.stdout.trim()).toBe("0");
  });

  it("runs a component's function with `convex-local run --component`", async () => {
    const written: string[] = [];
    const log = console.log;
    console.log = (text: string) => written.push(text);
    try {
      expect(await main(["run", "--url", deployment.backend.url, "--admin-key", deployment.backend.adminKey, "--component", "likesCounter", "public:count", JSON.stringify({ name: "cli" })])).toBe(0);
    } finally {
      console.log = log;
    }
    expect(written).toEqual(["1"]);
  });

  it("refuses a client's call into a component without the admin key", async () => {
    const response = await fetch(`${deployment.backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "public:count", componentPath: "shardedCounter", args: { name: "home" } }),
    });
    expect(await response.json()).toMatchObject({ status: "error", errorMessage: expect.stringContaining("Could not find public function for 'shardedCounter/public:count'") });
  });

  it("re-runs a live subscription when the component's tables change", async () => {
    const live = new ConvexClient(deployment.backend.url);
    try {
      const seen: { visits: number; likes: number }[] = [];
      const unsubscribe = live.onUpdate(api.counters.counts, { page: "live" }, (value: { visits: number; likes: number }) => seen.push(value));
      await waitFor(() => seen.length > 0);
      expect(seen.at(-1)).toEqual({ visits: 0, likes: 0 });
      await client.mutation(api.counters.addVisit, { page: "live", count: 2 });
      await waitFor(() => seen.at(-1)?.visits === 2);
      await client.mutation(api.counters.like, { page: "live" });
      await waitFor(() => seen.at(-1)?.likes === 1);
      unsubscribe();
    } finally {
      await live.close();
    }
  });
});

describe("rate-limiter (with its own batch-worker component)", () => {
  it("allows a fixed window's rate and refuses past it, per key", async () => {
    const results = [];
    for (let attempt = 0; attempt < 3; attempt++) results.push((await client.mutation(api.limits.signIn, { email: "ada@example.com" })).ok);
    expect(results).toEqual([true, true, false]);
    expect((await client.mutation(api.limits.signIn, { email: "grace@example.com" })).ok).toBe(true);
  });

  it("empties a token bucket of capacity 3", async () => {
    const results = [];
    for (let attempt = 0; attempt < 4; attempt++) results.push((await client.mutation(api.limits.sendMessage, { user: "u1" })).ok);
    expect(results).toEqual([true, true, true, false]);
  });
});

describe("a component of the app's own (convex/echo)", () => {
  it("passes no identity into a component", async () => {
    const asUser = new ConvexHttpClient(deployment.backend.url);
    (asUser as unknown as { setAdminAuth(key: string, identity: object): void }).setAdminAuth(deployment.backend.adminKey, { subject: "user-1", issuer: "https://issuer.example" });
    expect(await asUser.query(api.echoCalls.identities, {})).toEqual({ app: "user-1", component: null });
  });

  it("signs a component's ctx.auth.signJwt tokens as issued by the deployment's URL and the component's path", async () => {
    const { app, component } = (await client.mutation(api.echoCalls.tokens, {})) as { app: string; component: string };
    expect(decodeJwt(app).iss).toBe(deployment.backend.url);
    expect(decodeJwt(component).iss).toBe(`${deployment.backend.url}/components/echo`);
  });

  it("keeps a component's documents out of the app's reach", async () => {
    const id: string = await client.mutation(api.echoCalls.addNote, { text: "inside echo" });
    expect(await client.query(api.echoCalls.readFromApp, { id })).toEqual({ normalized: null, viaComponent: "inside echo" });
  });

  it("passes a ConvexError thrown in a component to the caller with its data", async () => {
    expect(await client.mutation(api.echoCalls.refused, {})).toEqual({ code: "refused", by: "echo" });
  });

  it("runs a component's cron", async () => {
    await waitFor(async () => (await client.query(api.echoCalls.ticks, {})) >= 2, 30_000);
  });

  it("keeps a removed component's data, and finds it again when the component comes back", async () => {
    const configPath = path.join(deployment.appDir, "convex/convex.config.ts");
    const original = readFileSync(configPath, "utf8");
    const id: string = await client.mutation(api.echoCalls.addNote, { text: "kept" });
    writeFileSync(configPath, original.replace(/app\.use\(echo[^;]*;/, ""));
    try {
      const removed = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
      expect(removed.stderr).toContain("Unmounted component echo.");
      expect(removed.stderr).not.toContain("Installed component");
      await expect(client.query(api.echoCalls.ticks, {})).rejects.toThrow(/echo/);
    } finally {
      writeFileSync(configPath, original);
    }
    const back = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    expect(back.stderr).toContain("Remounted component echo.");
    expect(await client.query(api.echoCalls.readFromApp, { id })).toEqual({ normalized: null, viaComponent: "kept" });
  });
});

/** A file stored in the echo component's `_storage` (checked again after the restart). */
let echoFile: string;

describe("HTTP mounts (app.use(echo, { httpPrefix: \"/echo/\" })) and the app's httpPrefix", () => {
  const site = (pathname: string) => fetch(`${deployment.backend.siteUrl}${pathname}`);

  it("serves a component's route under its mount path, the request keeping its URL", async () => {
    const response = await site("/echo/hello");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { path: string; notes: number; identity: unknown };
    expect(body.path).toBe("/echo/hello");
    expect(body.notes).toBeGreaterThan(0);
    expect(body.identity).toBeNull();
  });

  it("serves a component's prefix route under its mount path", async () => {
    const response = await site("/echo/files/a.txt");
    expect(await response.text()).toBe("prefix route of echo: /echo/files/a.txt");
  });

  it("answers 404 for a path under the mount that the component does not route, and for one outside every mount", async () => {
    expect((await site("/echo/nothing")).status).toBe(404);
    expect((await site("/hello")).status).toBe(404);
  });

  it("serves the app's own routes under defineApp's httpPrefix (/api/) only", async () => {
    const response = await site("/api/ping");
    expect(await response.text()).toBe("pong from the app at /api/ping");
    expect((await site("/ping")).status).toBe(404);
  });
});

describe("a component's environment (app.use(echo, { env }))", () => {
  it("gives a component its bindings and the system variables, not the deployment's others; the app none of the component's", async () => {
    await deployment.cli(["env", "set", "ECHO_SECRET", "s3cret"]);
    await deployment.cli(["env", "set", "APP_ONLY", "for the app"]);
    const { stdout } = await deployment.cli(["run", "--component", "echo", "lib:environment"]);
    expect(JSON.parse(stdout)).toEqual({ greeting: "hello from the app", viaProcess: "hello from the app", secret: "s3cret", appOnly: null, hasSiteUrl: true });
    expect(await client.query(api.echoCalls.appEnvironment, {})).toEqual({ appOnly: "for the app", greeting: null, keys: [] });
  });

  it("follows a change of the deployment variable a binding names", async () => {
    await deployment.cli(["env", "set", "ECHO_SECRET", "changed"]);
    const { stdout } = await deployment.cli(["run", "--component", "echo", "lib:environment"]);
    expect(JSON.parse(stdout)).toMatchObject({ secret: "changed", greeting: "hello from the app" });
  });
});

describe("each instance's own _storage and _scheduled_functions", () => {
  it("stores a component's file in its own _storage, out of the app's", async () => {
    const appFile: string = await client.action(api.echoCalls.storeInApp, { text: "the app's bytes" });
    echoFile = await client.action(api.echoCalls.storeInEcho, { text: "echo's bytes" });
    const echoFiles: string[] = await deployment.cli(["run", "--component", "echo", "lib:files"]).then(({ stdout }) => JSON.parse(stdout));
    expect(echoFiles).toEqual([echoFile]);
    const app: { files: string[] } = await client.query(api.echoCalls.appSystemTables, {});
    expect(app.files).toContain(appFile);
    expect(app.files).not.toContain(echoFile);
    // The component's URL serves its file; the app's storage does not know the component's id.
    const url: string = await client.query(api.echoCalls.echoFileUrl, { id: echoFile });
    expect(await (await fetch(url)).text()).toBe("echo's bytes");
    await expect(client.query(api.echoCalls.appFileUrl, { id: echoFile })).rejects.toThrow(/Storage ID cannot be an ID on any table other than '_storage'/);
  });

  it("stores an upload through a component's upload URL in the component's _storage", async () => {
    const { stdout } = await deployment.cli(["run", "--component", "echo", "lib:uploadUrl"]);
    const uploaded = await fetch(JSON.parse(stdout) as string, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "uploaded to echo" });
    const { storageId } = (await uploaded.json()) as { storageId: string };
    const echoFiles: string[] = await deployment.cli(["run", "--component", "echo", "lib:files"]).then((result) => JSON.parse(result.stdout));
    expect(echoFiles).toContain(storageId);
    expect(((await client.query(api.echoCalls.appSystemTables, {})) as { files: string[] }).files).not.toContain(storageId);
  });

  it("keeps a component's scheduled job in its own table, under its own function path, and runs it there", async () => {
    const jobId: string = await client.mutation(api.echoCalls.scheduleInEcho, {});
    const echoJob = async () => {
      const { stdout } = await deployment.cli(["run", "--component", "echo", "lib:jobs"]);
      return (JSON.parse(stdout) as { id: string; name: string; state: string }[]).find((job) => job.id === jobId);
    };
    await waitFor(async () => (await echoJob())?.state === "success", 30_000);
    expect(await echoJob()).toEqual({ id: jobId, name: "lib.js:tick", state: "success" });
    const app: { jobs: { id: string }[] } = await client.query(api.echoCalls.appSystemTables, {});
    expect(app.jobs.map((job) => job.id)).not.toContain(jobId);
    await expect(client.mutation(api.echoCalls.cancelFromApp, { id: jobId })).rejects.toThrow(/Invalid scheduled function ID/);
  });

});

describe("the CLI's system queries inside a component", () => {
  const failureOf = (args: string[]) =>
    deployment.cli(args).then(
      () => null,
      (error: { stderr: string }) => error.stderr,
    );

  it("lists a component's tables and reads one with `npx convex data --component`", async () => {
    await client.mutation(api.echoCalls.addNote, { text: "read by the CLI" });
    const tables = await deployment.cli(["data", "--component", "echo"]);
    expect(tables.stdout.split("\n").map((line) => line.trim()).filter(Boolean).sort()).toEqual(["notes", "ticks"]);
    const notes = await deployment.cli(["data", "--component", "echo", "notes", "--format", "jsonLines"]);
    expect(notes.stdout).toMatch(/"text": ?"read by the CLI"/);
    // The app's table of the same listing is the app's own.
    const appTables = await deployment.cli(["data"]);
    expect(appTables.stdout).not.toMatch(/^\s*ticks\s*$/m);
  });

  it("reads a component's own _storage with `npx convex data --component`", async () => {
    const { stdout } = await deployment.cli(["data", "--component", "echo", "_storage", "--format", "jsonLines"]);
    expect(stdout).toContain(echoFile);
    const app = await deployment.cli(["data", "_storage", "--format", "jsonLines"]);
    expect(app.stdout).not.toContain(echoFile);
  });

  it("lists a component's functions after `npx convex run --component` names an unknown one", async () => {
    const failure = await failureOf(["run", "--component", "echo", "lib:nothingHere"]);
    expect(failure).toContain("Available functions:");
    expect(failure).toMatch(/lib:addNote/);
    expect(failure).toMatch(/lib:storeText/);
    expect(failure).not.toMatch(/echoCalls:/);
  });

  it("names a component path that matches no component", async () => {
    // (The CLI itself waits on without printing a failed system query's error: asked over HTTP.)
    const response = await fetch(`${deployment.backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Convex ${deployment.backend.adminKey}` },
      body: JSON.stringify({ path: "_system/cli/tables", componentPath: "nowhere", args: { paginationOpts: { numItems: 10, cursor: null } }, format: "json" }),
    });
    expect(await response.json()).toMatchObject({ status: "error", errorMessage: expect.stringContaining('Component "nowhere" not found') });
  });
});

describe("export and import", () => {
  const zip = () => path.join(deployment.appDir, "components-export.zip");

  it("exports each component's tables and files under _components/<name>/, by the names its code uses", async () => {
    const zip = path.join(deployment.appDir, "components-export.zip");
    const { stderr } = await deployment.cli(["export", "--path", zip, "--include-file-storage"]);
    expect(stderr).toMatch(/Created snapshot export at timestamp|Snapshot export completed at/);
    const entries = await zipEntries(zip);
    const lines = (name: string) => (entries.get(name) ?? "").split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    // No stored (namespaced) name reaches the ZIP.
    expect([...entries.keys()].filter((name) => name.includes("@"))).toEqual([]);
    expect(lines("_tables/documents.jsonl").map((table) => table.name)).not.toContain("notes");
    expect(lines("_components/echo/_tables/documents.jsonl").map((table) => table.name).sort()).toEqual(["notes", "ticks"]);
    expect(lines("_components/echo/notes/documents.jsonl").map((note) => note.text)).toContain("inside echo");
    expect(entries.get("_components/echo/notes/generated_schema.jsonl")).toBe('"uniform"\n');
    // Each instance of the same definition is exported apart.
    expect(entries.has("_components/shardedCounter/_tables/documents.jsonl")).toBe(true);
    expect(entries.has("_components/likesCounter/_tables/documents.jsonl")).toBe(true);
    // The component's files are in its own _storage folder, not the app's.
    expect(lines("_components/echo/_storage/documents.jsonl").map((file) => file._id)).toContain(echoFile);
    expect(lines("_storage/documents.jsonl").map((file) => file._id)).not.toContain(echoFile);
    const bytes = [...entries.keys()].find((name) => name.startsWith(`_components/echo/_storage/${echoFile}`));
    expect(bytes === undefined ? undefined : entries.get(bytes)).toBe("echo's bytes");
  });

  it("imports the export back with --replace: each component's tables and files as they were exported", async () => {
    const echoNotes = async (): Promise<string[]> => JSON.parse((await deployment.cli(["run", "--component", "echo", "lib:noteTexts"])).stdout);
    const before = await echoNotes();
    await client.mutation(api.echoCalls.addNote, { text: "written after the export" });
    const { stderr } = await deployment.cli(["import", zip(), "--replace", "--yes"]);
    // Convex's summary lists a component's tables under "Component <path>".
    expect(stderr).toMatch(/Component echo\n\s*table\s*\| create/);
    expect((await echoNotes()).sort()).toEqual([...before].sort());
    const url: string = await client.query(api.echoCalls.echoFileUrl, { id: echoFile });
    expect(await (await fetch(url)).text()).toBe("echo's bytes");
    expect(await client.query(api.counters.counts, { page: "home" })).toEqual({ visits: 7, likes: 1 });
  });

  it("imports one table into a component with `npx convex import --component`", async () => {
    const file = path.join(deployment.appDir, "notes.jsonl");
    writeFileSync(file, '{"text":"imported into echo"}\n');
    const { stderr } = await deployment.cli(["import", "--component", "echo", "--table", "notes", "--append", file, "--yes"]);
    expect(stderr).toMatch(/Added 1 documents/);
    const { stdout } = await deployment.cli(["run", "--component", "echo", "lib:noteTexts"]);
    expect(JSON.parse(stdout)).toContain("imported into echo");
    expect((await deployment.cli(["data", "--format", "jsonLines"])).stdout).not.toContain("imported into echo");
  });

  it("refuses a ZIP whose app and component tables share a table number (Convex numbers each component's tables apart), naming both", async () => {
    const file = path.join(deployment.appDir, "numbered-apart.zip");
    const archive = new yazl.ZipFile();
    archive.addBuffer(Buffer.from('{"name":"counters","id":10001}\n'), "_tables/documents.jsonl");
    archive.addBuffer(Buffer.alloc(0), "counters/documents.jsonl");
    archive.addBuffer(Buffer.from('{"name":"notes","id":10001}\n'), "_components/echo/_tables/documents.jsonl");
    archive.addBuffer(Buffer.alloc(0), "_components/echo/notes/documents.jsonl");
    archive.end();
    await pipeline(archive.outputStream, createWriteStream(file));
    const failure = await deployment.cli(["import", file, "--append", "--yes"]).then(
      () => null,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain("`counters` and `notes` in 'echo' both have table number 10001");
  });
});

describe("bad convex.config", () => {
  it("refuses a name used twice, naming it, and keeps serving the old code", async () => {
    const configPath = path.join(deployment.appDir, "convex/convex.config.ts");
    const original = readFileSync(configPath, "utf8");
    writeFileSync(configPath, original.replace(`app.use(shardedCounter, { name: "likesCounter" });`, `app.use(shardedCounter, { name: "rateLimiter" });`));
    try {
      const failure = await deployment.cli(["deploy", "--yes", "--typecheck", "disable", "--codegen", "disable"]).then(
        () => null,
        (error: { stderr: string }) => error.stderr,
      );
      expect(failure).toMatch(/InvalidConvexConfig/);
      expect(failure).toMatch(/"rateLimiter" is used twice/);
    } finally {
      writeFileSync(configPath, original);
    }
    expect(await client.query(api.counters.counts, { page: "home" })).toEqual({ visits: 7, likes: 1 });
  });
});

describe("restart", () => {
  let restarted: Backend | undefined;

  afterAll(async () => {
    await restarted?.close();
  });

  it("keeps every component's data and state across a restart", async () => {
    await deployment.backend.close();
    restarted = await startTestBackend(deployment.dataDir);
    const after = new ConvexHttpClient(restarted.url);
    expect(await after.query(api.counters.counts, { page: "home" })).toEqual({ visits: 7, likes: 1 });
    expect(await after.query(api.counters.appCounters, {})).toEqual([{ name: "home", note: "the app's own row" }]);
    // The rate limiter remembers the window it refused in.
    expect((await after.mutation(api.limits.signIn, { email: "ada@example.com" })).ok).toBe(false);
    await after.mutation(api.counters.like, { page: "home" });
    expect(await after.query(api.counters.counts, { page: "home" })).toEqual({ visits: 7, likes: 2 });
    // A component's files survive the start's sweep of bytes no `_storage` document names.
    const url: string = await after.query(api.echoCalls.echoFileUrl, { id: echoFile });
    expect(await (await fetch(url)).text()).toBe("echo's bytes");
  });

  it("runs a job a data directory from before components had their own tables left in the app's table", async () => {
    await restarted!.close();
    // Such a job names its function qualified with the component's namespace (components.ts).
    const storage = Storage.open(path.join(deployment.dataDir, "convex.sqlite3"));
    let legacyJob: string;
    try {
      legacyJob = storage.transaction(() => storage.insertDocument("_scheduled_functions", { name: "@echo/lib.js:tick", args: [{}], scheduledTime: Date.now(), state: { kind: "pending" } }).id);
    } finally {
      storage.close();
    }
    restarted = await startTestBackend(deployment.dataDir);
    const after = new ConvexHttpClient(restarted.url);
    const appJob = async () => ((await after.query(api.echoCalls.appSystemTables, {})) as { jobs: { id: string; name: string; state: string }[] }).jobs.find((job) => job.id === legacyJob);
    await waitFor(async () => (await appJob())?.state === "success", 30_000);
    expect(await appJob()).toEqual({ id: legacyJob, name: "@echo/lib.js:tick", state: "success" });
  });
});
