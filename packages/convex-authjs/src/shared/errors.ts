/** A required setting is neither passed as an option nor set in the environment. */
export class MissingEnvironmentVariableError extends Error {
  override name = "MissingEnvironmentVariableError";
  constructor(
    readonly variable: string,
    hint = "",
  ) {
    super(`${variable} is not set${hint ? `: ${hint}` : "."}`);
  }
}
