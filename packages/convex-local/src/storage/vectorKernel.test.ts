import { describe, expect, it } from "vitest";

import { compileVectorKernel } from "../../scripts/build-vector-kernel.mjs";
import { VECTOR_KERNEL_BASE64, vectorKernel } from "./vectorKernel.js";

describe("the vector kernel", () => {
  it("is the compiled vectorKernel.wat", async () => {
    expect(VECTOR_KERNEL_BASE64).toBe(await compileVectorKernel());
  });

  it("computes float32 and int8 dot products of every row", () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const kernel = vectorKernel(memory);
    const rows = 37;
    // 13 dimensions, padded with zeros to the strides (16 floats, 16 bytes).
    const dims = 13;
    const floatStride = 16;
    const byteStride = 16;
    const floats = new Float32Array(memory.buffer, 0, rows * floatStride);
    const bytes = new Int8Array(memory.buffer, 8192, rows * byteStride);
    const floatQuery = new Float32Array(memory.buffer, 16384, floatStride);
    const byteQuery = new Int8Array(memory.buffer, 16384 + 64, byteStride);
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < dims; i++) {
        floats[r * floatStride + i] = next();
        bytes[r * byteStride + i] = Math.round(next() * 127);
      }
    }
    for (let i = 0; i < dims; i++) {
      floatQuery[i] = next();
      byteQuery[i] = Math.round(next() * 127);
    }
    kernel.dotsF32(0, rows, floatStride, 16384, 20000);
    kernel.dotsI8(8192, rows, byteStride, 16384 + 64, 24000);
    const floatOut = new Float32Array(memory.buffer, 20000, rows);
    const intOut = new Int32Array(memory.buffer, 24000, rows);
    for (let r = 0; r < rows; r++) {
      let f = 0;
      let n = 0;
      for (let i = 0; i < dims; i++) {
        f += floats[r * floatStride + i] * floatQuery[i];
        n += bytes[r * byteStride + i] * byteQuery[i];
      }
      expect(floatOut[r]).toBeCloseTo(f, 5);
      expect(intOut[r]).toBe(n);
    }
  });

  it("keeps int8 sums of 4096 dimensions at ±127 exact", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const kernel = vectorKernel(memory);
    new Int8Array(memory.buffer, 0, 4096).fill(-127);
    new Int8Array(memory.buffer, 4096, 4096).fill(-127);
    kernel.dotsI8(0, 1, 4096, 4096, 8192);
    expect(new Int32Array(memory.buffer, 8192, 1)[0]).toBe(4096 * 127 * 127);
  });
});
