/**
 * Runs once before `npm test`: the browser tests drive Debian's Chromium (playwright-core cannot
 * download a browser here), so a machine without it is told at once what to install, instead of
 * every browser test failing with a launch error.
 */
import { existsSync } from "node:fs";

const CHROMIUM = "/usr/bin/chromium";

export default function checkPrerequisites(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The browser tests need Chromium at ${CHROMIUM}. Install it (Debian/Ubuntu: sudo apt-get install -y chromium) and run npm test again.`);
  }
}
