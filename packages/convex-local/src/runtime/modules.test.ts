import { describe, expect, it } from "vitest";
import { InvalidFunctionPathError } from "./errors.js";
import { checkFunctionPath } from "./modules.js";

function problemOf(path: string): string | undefined {
  try {
    checkFunctionPath(path);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidFunctionPathError);
    return (error as Error).message;
  }
}

describe("checkFunctionPath (Convex's UdfPath rules)", () => {
  it("accepts the paths apps and the CLI use", () => {
    for (const path of ["messages:list", "messages", "dir/sub/file:fn", "file.js:fn", "_system/cli/tables:list", "a_b.c:_private", "x".repeat(61) + ":f"]) {
      expect(problemOf(path), path).toBeUndefined();
    }
  });

  it("refuses what Convex refuses, in Convex's words", () => {
    expect(problemOf("my-file:list")).toBe("my-file:list is not a valid path to a Convex function. Path component my-file.js can only contain alphanumeric characters, underscores, or periods.");
    expect(problemOf("/abs:list")).toBe("/abs:list is not a valid path to a Convex function. Module paths must be relative (/abs is absolute).");
    expect(problemOf("../etc/passwd")).toBe("../etc/passwd is not a valid path to a Convex function. Invalid path component ...");
    expect(problemOf(":list")).toBe(":list is not a valid path to a Convex function. Module paths must be nonempty.");
    expect(problemOf("___/x:list")).toBe("___/x:list is not a valid path to a Convex function. Path component ___ must have at least one alphanumeric character.");
    expect(problemOf("m:1fn")).toBe('m:1fn is not a valid path to a Convex function. Invalid first character "1" in 1fn: Identifiers must start with an alphabetic character or underscore');
    expect(problemOf("m:f$")).toBe('m:f$ is not a valid path to a Convex function. Identifier f$ has invalid character "$": Identifiers can only contain alphanumeric characters or underscores');
    expect(problemOf("m:__")).toBe("m:__ is not a valid path to a Convex function. Identifier __ cannot have exclusively underscores");
    expect(problemOf("m:")).toBe("m: is not a valid path to a Convex function. Identifier cannot be empty");
    expect(problemOf(`m:${"f".repeat(65)}`)).toMatch(/Identifier is too long \(65 > maximum 64\)$/);
    // The module path's implied `.js` counts: 62 characters + `.js` is too long.
    expect(problemOf(`${"x".repeat(62)}:f`)).toMatch(/Path component is too long \(65 > maximum 64\): x{62}\.j\.\.\.$/);
  });

  it("quotes at most 200 characters of a huge path", () => {
    const message = problemOf(`${"y".repeat(4 << 20)}:f`)!;
    expect(message.length).toBeLessThan(400);
    expect(problemOf(`m:${"\u001b".repeat(1 << 20)}`)!.length).toBeLessThan(600);
  });
});
