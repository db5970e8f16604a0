import type { TestProject } from "vitest/node";
import { type StackInfo, startServers } from "./servers";

declare module "vitest" {
  export interface ProvidedContext {
    e2eStack: StackInfo;
  }
}

/** One running stack for the whole e2e run; test files reach it through `startStack()`. */
export default async function setup(project: TestProject) {
  const servers = await startServers();
  project.provide("e2eStack", servers.info);
  return () => servers.close();
}
