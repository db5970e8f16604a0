/**
 * The Chromium prerequisite of `npm test`, on made-up machines: temp directories stand for /usr/bin and
 * for PATH (one with no apt-get, one with an `apt-get` script that records its arguments and, on
 * `install`, puts an executable where Chromium belongs — the real apt-get would change this machine).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { ensureChromium, findOnPath, planChromium } from "./chromium.mjs";

let root: string;
let chromiumPath: string;
let emptyPath: string;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "chromium-prerequisite-"));
  chromiumPath = path.join(root, "usr/bin/chromium");
  mkdirSync(path.dirname(chromiumPath), { recursive: true });
  emptyPath = path.join(root, "empty-bin");
  mkdirSync(emptyPath);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

function writeExecutable(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, 0o755);
}

/** A directory holding an `apt-get` script; it logs each call and exits with `status`. */
function fakeAptGet({ status = 0, installs = true } = {}): { searchPath: string; calls: () => string[] } {
  const dir = path.join(root, "apt-bin");
  const log = path.join(root, "apt-calls.log");
  const install = installs ? `printf '#!/bin/sh\\n' > '${chromiumPath}'; chmod 755 '${chromiumPath}'` : ":";
  writeExecutable(path.join(dir, "apt-get"), `#!/bin/sh\necho "$*" >> '${log}'\nif [ "$1" = install ]; then ${install}; fi\nexit ${status}\n`);
  return {
    searchPath: `${emptyPath}${path.delimiter}${dir}${path.delimiter}/bin${path.delimiter}/usr/bin`,
    calls: () => readFileSync(log, "utf8").trim().split("\n"),
  };
}

describe("planChromium", () => {
  test("ready when Chromium is an executable at its path", () => {
    writeExecutable(chromiumPath, "#!/bin/sh\n");
    expect(planChromium({ chromiumPath, searchPath: emptyPath, isRoot: false })).toEqual({ action: "ready" });
  });

  test("a file that is not executable does not count", () => {
    writeFileSync(chromiumPath, "");
    expect(planChromium({ chromiumPath, searchPath: emptyPath, isRoot: false }).action).toBe("stop");
  });

  test("without apt-get on PATH it stops with one line saying what is needed", () => {
    const plan = planChromium({ chromiumPath, searchPath: emptyPath, isRoot: true });
    expect(plan).toEqual({ action: "stop", message: `npm test needs Chromium at ${chromiumPath} for the browser tests: run \`install Chromium so that ${chromiumPath} runs it\`, then npm test again.` });
  });

  test("with apt-get but not root it names the sudo command", () => {
    const { searchPath } = fakeAptGet();
    const plan = planChromium({ chromiumPath, searchPath, isRoot: false });
    expect(plan.action).toBe("stop");
    expect(plan.message).toContain("run `sudo apt-get install -y chromium`");
    expect(plan.message).not.toContain("\n");
  });

  test("as root with apt-get it installs", () => {
    const { searchPath } = fakeAptGet();
    expect(planChromium({ chromiumPath, searchPath, isRoot: true })).toEqual({ action: "install", aptGet: path.join(root, "apt-bin/apt-get") });
  });

  test("findOnPath skips empty entries and missing directories", () => {
    const { searchPath } = fakeAptGet();
    expect(findOnPath("apt-get", `${path.delimiter}/no/such/dir${path.delimiter}${searchPath}`)).toBe(path.join(root, "apt-bin/apt-get"));
    expect(findOnPath("apt-get", "")).toBeUndefined();
  });
});

describe("ensureChromium", () => {
  test("returns without a word when Chromium is there", () => {
    writeExecutable(chromiumPath, "#!/bin/sh\n");
    const lines: string[] = [];
    ensureChromium({ chromiumPath, searchPath: emptyPath, isRoot: false, log: (line) => lines.push(line) });
    expect(lines).toEqual([]);
  });

  test("as root: apt-get update, then install -y chromium, then Chromium is there", () => {
    const apt = fakeAptGet();
    const lines: string[] = [];
    ensureChromium({ chromiumPath, searchPath: apt.searchPath, isRoot: true, log: (line) => lines.push(line) });
    expect(apt.calls()).toEqual(["update -q", "install -y -q chromium"]);
    expect(lines).toHaveLength(1);
    expect(planChromium({ chromiumPath, searchPath: emptyPath, isRoot: false })).toEqual({ action: "ready" });
  });

  test("a failing apt-get stops at once with one line", () => {
    const apt = fakeAptGet({ status: 100 });
    expect(() => ensureChromium({ chromiumPath, searchPath: apt.searchPath, isRoot: true, log: () => {} })).toThrow(
      /^apt-get update failed \(exit status 100\): install Chromium yourself \(apt-get install -y chromium\), then npm test again\.$/,
    );
    expect(apt.calls()).toEqual(["update -q"]);
  });

  test("an install that leaves no Chromium behind is reported", () => {
    const apt = fakeAptGet({ installs: false });
    expect(() => ensureChromium({ chromiumPath, searchPath: apt.searchPath, isRoot: true, log: () => {} })).toThrow(`apt-get installed chromium but ${chromiumPath} is still missing`);
  });

  test("not root, no Chromium: throws the one line, runs nothing", () => {
    const apt = fakeAptGet();
    expect(() => ensureChromium({ chromiumPath, searchPath: apt.searchPath, isRoot: false, log: () => {} })).toThrow("run `sudo apt-get install -y chromium`");
    expect(() => apt.calls()).toThrow(/ENOENT/);
  });
});
