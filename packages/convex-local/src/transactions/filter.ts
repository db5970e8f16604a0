/**
 * Evaluates the serialized filter expressions of `query.filter(q => ...)` against a document.
 * Comparisons use Convex's total order over values, so mixed types compare as they do on Convex.
 */
import type { JSONValue, Value } from "convex/values";
import { compareValues } from "../storage/keys.js";
import { jsonToValue } from "../storage/values.js";
import { truncateText } from "../text/valueText.js";

export type FilterExpression = { [operator: string]: unknown };

export class InvalidFilterError extends Error {
  constructor(detail: string) {
    super(`Invalid filter expression: ${detail}`);
    this.name = "InvalidFilterError";
  }
}

type Operand = Value | undefined;

export function evaluateFilter(expression: FilterExpression, document: Record<string, Value>): boolean {
  return evaluate(expression, document) === true;
}

/** Reads a dotted field path (`a.b.c`) from a document; anything missing is `undefined`. */
export function readFieldPath(document: Record<string, Value>, fieldPath: string): Operand {
  let current: Operand = document;
  for (const part of fieldPath.split(".")) {
    if (typeof current !== "object" || current === null || Array.isArray(current) || current instanceof ArrayBuffer) {
      return undefined;
    }
    current = (current as Record<string, Value>)[part];
  }
  return current;
}

function evaluate(expression: unknown, document: Record<string, Value>): Operand {
  if (typeof expression !== "object" || expression === null) throw new InvalidFilterError(JSON.stringify(expression));
  const entries = Object.entries(expression);
  if (entries.length !== 1) throw new InvalidFilterError(`expected one operator, got ${truncateText(JSON.stringify(expression))}`);
  const [operator, argument] = entries[0];
  const binary = (): [Operand, Operand] => {
    if (!Array.isArray(argument) || argument.length !== 2) throw new InvalidFilterError(`${operator} takes two operands`);
    return [evaluate(argument[0], document), evaluate(argument[1], document)];
  };
  const list = (): Operand[] => {
    if (!Array.isArray(argument)) throw new InvalidFilterError(`${operator} takes a list of operands`);
    return argument.map((item) => evaluate(item, document));
  };
  switch (operator) {
    case "$literal":
      return isUndefinedMarker(argument) ? undefined : jsonToValue(argument as JSONValue);
    case "$field":
      if (typeof argument !== "string") throw new InvalidFilterError("$field takes a field path");
      return readFieldPath(document, argument);
    case "$eq":
      return compareValues(...binary()) === 0;
    case "$neq":
      return compareValues(...binary()) !== 0;
    case "$lt":
      return compareValues(...binary()) < 0;
    case "$lte":
      return compareValues(...binary()) <= 0;
    case "$gt":
      return compareValues(...binary()) > 0;
    case "$gte":
      return compareValues(...binary()) >= 0;
    case "$and":
      return list().every((value) => value === true);
    case "$or":
      return list().some((value) => value === true);
    case "$not":
      return evaluate(argument, document) !== true;
    case "$add":
    case "$sub":
    case "$mul":
    case "$div":
    case "$mod":
      return arithmetic(operator, ...binary());
    case "$neg": {
      const value = evaluate(argument, document);
      if (typeof value === "number") return -value;
      if (typeof value === "bigint") return BigInt.asIntN(64, -value);
      throw new InvalidFilterError(`$neg of a non-number`);
    }
    default:
      throw new InvalidFilterError(`unknown operator ${operator}`);
  }
}

/** `{ "$undefined": null }`: how the client encodes `undefined` in filters, ranges and patches. */
export function isUndefinedMarker(value: unknown): boolean {
  return typeof value === "object" && value !== null && "$undefined" in value;
}

function arithmetic(operator: string, left: Operand, right: Operand): Operand {
  if (typeof left === "number" && typeof right === "number") {
    switch (operator) {
      case "$add": return left + right;
      case "$sub": return left - right;
      case "$mul": return left * right;
      case "$div": return left / right;
      default: return left % right;
    }
  }
  if (typeof left === "bigint" && typeof right === "bigint") {
    if ((operator === "$div" || operator === "$mod") && right === 0n) throw new InvalidFilterError("integer division by zero");
    switch (operator) {
      case "$add": return BigInt.asIntN(64, left + right);
      case "$sub": return BigInt.asIntN(64, left - right);
      case "$mul": return BigInt.asIntN(64, left * right);
      case "$div": return left / right;
      default: return left % right;
    }
  }
  throw new InvalidFilterError(`${operator} needs two numbers or two int64s of the same type`);
}
