/**
 * A seeded generator of numbers in [0, 1) (mulberry32), for tests whose random data must be the
 * same on every run, so a failure reproduces.
 *
 * @example
 * const next = seededRandom(7);
 * next(); // always the same first number for seed 7
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
