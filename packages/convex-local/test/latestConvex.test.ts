/**
 * What apps on newer `convex` packages than the oldest supported one (1.48) rely on, run only when
 * such a package is installed (`npm run test:node24` installs the newest checked 1.x): the
 * `v.function()` validator (1.49). schedulerFidelity.test.ts checks the self-cancel change of 1.50.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { convexAtLeast, convexVersion, deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;

describe.runIf(convexAtLeast(1, 49))(`convex ${convexVersion}`, () => {
  let deployment: TestDeployment;
  let client: ConvexHttpClient;

  beforeAll(async () => {
    deployment = await deployFixture("latestConvex");
    client = new ConvexHttpClient(deployment.backend.url);
  });

  afterAll(async () => {
    await deployment?.cleanup();
  });

  it("v.function() accepts a function handle and refuses any other string", async () => {
    const handle = (await client.mutation(api.handles.handleOfTarget, {})) as string;
    expect(await client.mutation(api.handles.callBack, { onDone: handle })).toBe("ran");
    await expect(client.mutation(api.handles.callBack, { onDone: "handles:target" })).rejects.toThrow(
      /ArgumentValidationError: Value does not match validator.\nPath: .onDone\nValue: "handles:target"\nValidator: v.function\(\)/,
    );
  });
});
