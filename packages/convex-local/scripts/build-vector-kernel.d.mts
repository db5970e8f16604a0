/** Compiles src/storage/vectorKernel.wat and returns its bytes, base64. */
export function compileVectorKernel(): Promise<string>;
