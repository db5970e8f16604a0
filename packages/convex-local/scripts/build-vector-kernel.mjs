/**
 * Compiles src/storage/vectorKernel.wat (WebAssembly text with SIMD) with wabt and writes the bytes,
 * base64, into VECTOR_KERNEL_BASE64 of src/storage/vectorKernel.ts. Run after editing the .wat:
 * `npm run build:vector-kernel -w convex-local`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import wabtInit from "wabt";

const storageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/storage");

/** The kernel's bytes, base64, compiled from the .wat source. */
export async function compileVectorKernel() {
  const wabt = await wabtInit();
  const module = wabt.parseWat("vectorKernel.wat", readFileSync(path.join(storageDir, "vectorKernel.wat"), "utf8"), { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({}).buffer).toString("base64");
  } finally {
    module.destroy();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const target = path.join(storageDir, "vectorKernel.ts");
  const source = readFileSync(target, "utf8");
  const pattern = /(export const VECTOR_KERNEL_BASE64 =\n  ")[A-Za-z0-9+/=]*(";)/;
  if (!pattern.test(source)) throw new Error(`VECTOR_KERNEL_BASE64 not found in ${target}`);
  writeFileSync(target, source.replace(pattern, `$1${await compileVectorKernel()}$2`));
  process.stdout.write(`wrote ${target}\n`);
}
