/**
 * The SIMD dot-product kernel of vector search (the WebAssembly module compiled from
 * vectorKernel.wat; `npm run build:vector-kernel -w convex-local` rewrites the bytes below, and
 * vectorKernel.test.ts fails when they no longer match the source).
 *
 * ```ts
 * const memory = new WebAssembly.Memory({ initial: 16 });
 * const kernel = vectorKernel(memory);
 * kernel.dotsF32(rowsOffset, count, stride, queryOffset, outOffset); // float32 scores at outOffset
 * ```
 */

/** The compiled module, base64 (wat2wasm of vectorKernel.wat with SIMD). */
export const VECTOR_KERNEL_BASE64 =
  "AGFzbQEAAAABCQFgBX9/f39/AAIRAQVpbmRleAZtZW1vcnkCAAEDAwIAAAcUAgdkb3RzRjMyAAAGZG90c0k4AAEKjQMC0wECBH8CeyACQQJ0IQggACEGAkADQCAFIAFPDQH9DAAAAAAAAAAAAAAAAAAAAAAhCf0MAAAAAAAAAAAAAAAAAAAAACEKQQAhBwJAA0AgByAITw0BIAkgBiAHav0ABAAgAyAHav0ABAD95gH95AEhCSAKIAYgB2r9AAQQIAMgB2r9AAQQ/eYB/eQBIQogB0EgaiEHDAALCyAJIAr95AEhCSAEIAVBAnRqIAn9HwAgCf0fAZIgCf0fAiAJ/R8DkpI4AgAgBiAIaiEGIAVBAWohBQwACwsLtQECA38DeyAAIQYCQANAIAUgAU8NAf0MAAAAAAAAAAAAAAAAAAAAACEKQQAhBwJAA0AgByACTw0BIAYgB2r9AAQAIQggAyAHav0ABAAhCSAKIAj9hwEgCf2HAf26Af2uASEKIAogCP2IASAJ/YgB/boB/a4BIQogB0EQaiEHDAALCyAEIAVBAnRqIAr9GwAgCv0bAWogCv0bAiAK/RsDamo2AgAgBiACaiEGIAVBAWohBQwACwsL";

/** The kernel's functions over one memory; offsets in bytes, strides in elements. */
export interface VectorKernel {
  /** float32 dot products: rows of `stride` floats (a multiple of 8), query of `stride` floats. */
  dotsF32(rows: number, count: number, stride: number, query: number, out: number): void;
  /** int32 dot products: rows of `stride` int8s (a multiple of 16, values in [-127, 127]). */
  dotsI8(rows: number, count: number, stride: number, query: number, out: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** The kernel working on `memory` (the module is compiled once per process). */
export function vectorKernel(memory: WebAssembly.Memory): VectorKernel {
  compiled ??= new WebAssembly.Module(Buffer.from(VECTOR_KERNEL_BASE64, "base64"));
  const instance = new WebAssembly.Instance(compiled, { index: { memory } });
  return instance.exports as unknown as VectorKernel;
}
