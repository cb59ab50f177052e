/**
 * Browser tests in a real headless Chromium (see chromium.ts). Use `describeBrowser` instead of `describe`: without
 * Chromium it skips with a message locally and fails under CI, where a missing browser must never pass silently.
 * @module
 */
import { describe, it } from 'vitest'
import { hasChromium, MISSING_CHROMIUM } from './chromium.js'

export { CHROMIUM_FLAGS, CHROMIUM_PATH, hasChromium, launchBrowser } from './chromium.js'

/** `describe` for tests that need Chromium: skipped with a clear message when it is missing, failing under CI=true. */
export function describeBrowser(name: string, body: () => void): void {
  if (hasChromium) {
    describe(name, body)
  } else if (process.env.CI && !['0', 'false'].includes(process.env.CI)) {
    describe(name, () => {
      it('has a Chromium to run in', () => {
        throw new Error(`${MISSING_CHROMIUM}. CI is set, so browser tests must run.`)
      })
    })
  } else {
    console.warn(`[querysight] skipping browser tests "${name}": ${MISSING_CHROMIUM}`)
    describe.skip(`${name} (skipped: ${MISSING_CHROMIUM})`, body)
  }
}
