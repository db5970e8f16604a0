/**
 * Child process for the kill -9 durability test: opens the store given as
 * argv[2] and commits transactions forever, printing `committed <n> <id>`
 * after each commit returns. The parent SIGKILLs it at some point.
 */
import { Storage } from "../store.js";

const store = Storage.open(process.argv[2]);
for (let n = 0; ; n++) {
  const id = store.transaction(() => {
    const { id } = store.insertDocument("items", { n, padding: "x".repeat(200) });
    store.setMeta("last", n);
    return id;
  });
  process.stdout.write(`committed ${n} ${id}\n`);
}
