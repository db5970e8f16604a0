/** The command line is wrong: unknown flag, bad value, missing argument. Exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The Convex CLI could not be found or a `convex env` command failed. */
export class ConvexCliError extends Error {
  override name = "ConvexCliError";
}
