/**
 * The storage layer: durable documents, indexes and timestamps on SQLite.
 */
export { decodeDocumentId, encodeDocumentId, newInternalId, INTERNAL_ID_LENGTH, type DecodedDocumentId } from "./ids.js";
export {
  compareValues,
  compareValueTuples,
  encodeIndexKey,
  prefixSuccessor,
  rangeForIndexExpression,
  rangeForPrefix,
  type FieldBound,
  type KeyRange,
} from "./keys.js";
export { isJsonObject, valueAtPath, type JsonObject } from "./documents.js";
export {
  Storage,
  BY_ID_INDEX,
  BY_CREATION_TIME_INDEX,
  FIRST_USER_TABLE_NUMBER,
  FIRST_SYSTEM_TABLE_NUMBER,
  SYSTEM_TABLE_NUMBERS,
  timestampToMs,
  type IndexDefinition,
  type IndexInfo,
  type InsertResult,
  type Savepoint,
  type ScanOptions,
  type ScanRow,
} from "./store.js";
export { SCHEMA_VERSION } from "./schema.js";
export { ownerOnlyDirectory, ownerOnlyFile } from "./ownerOnly.js";
