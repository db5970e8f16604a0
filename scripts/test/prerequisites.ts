/**
 * Runs once before the tests (vitest global setup): the browser tests need Chromium, so a machine
 * without it gets it installed (as root with apt-get) or is told at once, in one line, what to run,
 * instead of every browser test failing with a launch error. `npm test` runs the same check before it
 * builds (scripts/test/chromium.mjs); this covers `npx vitest` started directly.
 */
import { ensureChromium } from "./chromium.mjs";

export default function checkPrerequisites(): void {
  ensureChromium();
}
