import { ConvexError, type GenericValidator, type PropertyValidators } from "convex/values";
import { ErrorCode, type AdapterErrorData } from "../shared/protocol.js";
import { assertAdapterSecret } from "./secret.js";

/**
 * The adapter functions' arguments, checked here instead of by an `args`
 * validator. Convex answers a top-level validation failure (a missing or an
 * extra field, as after a version skew between the adapter and the deployed
 * functions) with an ArgumentValidationError that quotes the whole arguments
 * object, `secret` included, into the deployment's logs. So the functions
 * declare no `args`, take the secret out first and refuse the call unless it
 * matches, then validate the rest against the same validators with messages
 * that name where the arguments differ and never quote a value.
 *
 * @returns the arguments without `secret`
 */
export function adapterArguments<Fields extends PropertyValidators>(
  args: Record<string, unknown>,
  fields: Fields,
): Record<string, unknown> {
  const { secret, ...rest } = args;
  assertAdapterSecret(secret);
  const problem = objectProblem(rest, fields, "");
  if (problem !== undefined) {
    throw new ConvexError<AdapterErrorData>({
      code: ErrorCode.invalidArguments,
      message: `Invalid arguments: ${problem}. Are the adapter and the deployed convex-authjs functions the same version?`,
    });
  }
  return rest;
}

/** Why `value` does not match the object validator's `fields`, or undefined when it does. */
function objectProblem(value: unknown, fields: PropertyValidators, path: string): string | undefined {
  if (!isPlainObject(value)) return `${where(path)} must be an object`;
  // Every unexpected field, so a version skew shows at once what one side adds.
  const unexpected = Object.keys(value).filter((name) => !Object.hasOwn(fields, name) && value[name] !== undefined);
  if (unexpected.length > 0) {
    return `${unexpected.map((name) => where(join(path, name))).join(", ")} ${unexpected.length === 1 ? "is" : "are"} not expected`;
  }
  for (const [name, validator] of Object.entries(fields)) {
    const field = value[name];
    if (field === undefined) {
      if (validator.isOptional !== "optional") return `${where(join(path, name))} is missing`;
      continue;
    }
    const problem = valueProblem(field, validator, join(path, name));
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** Convex's validator semantics, every kind; an unknown kind fails closed. */
function valueProblem(value: unknown, validator: GenericValidator, path: string): string | undefined {
  const expected = (type: string, ok: boolean) => (ok ? undefined : `${where(path)} must be ${type}`);
  switch (validator.kind) {
    case "string":
      return expected("a string", typeof value === "string");
    case "id":
      return expected(`an id of "${validator.tableName}"`, typeof value === "string");
    case "float64":
      return expected("a number", typeof value === "number");
    case "int64":
      return expected("a bigint", typeof value === "bigint");
    case "boolean":
      return expected("a boolean", typeof value === "boolean");
    case "null":
      return expected("null", value === null);
    case "bytes":
      return expected("an ArrayBuffer", value instanceof ArrayBuffer);
    case "any":
      return undefined;
    case "literal":
      return expected(`the literal ${JSON.stringify(validator.value)}`, value === validator.value);
    case "object":
      return objectProblem(value, validator.fields, path);
    case "array":
      if (!Array.isArray(value)) return `${where(path)} must be an array`;
      for (const [index, element] of value.entries()) {
        const problem = valueProblem(element, validator.element, `${path}[${index}]`);
        if (problem !== undefined) return problem;
      }
      return undefined;
    case "record":
      if (!isPlainObject(value)) return `${where(path)} must be an object`;
      for (const [key, element] of Object.entries(value)) {
        // Keys are data, so a bad key is reported by its position, not its text.
        if (valueProblem(key, validator.key, path) !== undefined) return `${where(path)} has a key that is not allowed`;
        const problem = valueProblem(element, validator.value, join(path, "<key>"));
        if (problem !== undefined) return problem;
      }
      return undefined;
    case "union":
      return expected("one of the union's members", validator.members.some((member: GenericValidator) => valueProblem(value, member, path) === undefined));
    default:
      return `${where(path)} has a validator this check does not know (${validator.kind})`;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof ArrayBuffer);
}

const join = (path: string, name: string) => (path === "" ? name : `${path}.${name}`);
const where = (path: string) => (path === "" ? "the arguments" : `argument \`${path}\``);
