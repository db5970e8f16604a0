import { describe, expect, it } from "vitest";
import { securityTarget, underAttack } from "./target.js";

const target = securityTarget();

describe("the security target", () => {
  it("serves the control query while nothing attacks it", async () => {
    const report = await underAttack(target, () => new Promise((resolve) => setTimeout(resolve, 300)));
    expect(report.controlLatencies.length).toBeGreaterThan(3);
  });
});
