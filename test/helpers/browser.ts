/**
 * A real headless Chromium for browser tests, driven by playwright-core (no browser download: the system's
 * Chromium). Use `describeBrowser` instead of `describe`: without Chromium it skips with a message locally and fails
 * under CI, where a missing browser must never pass silently.
 * @module
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { describe, it } from 'vitest'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export const hasChromium = existsSync(CHROMIUM_PATH)

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const MISSING = `Chromium not found at ${CHROMIUM_PATH}; install it (apt-get install chromium, or make chromium under CI) or set CHROMIUM_PATH`

/**
 * Starts headless Chromium with the flags above. playwright-core gives every launch a fresh temporary
 * `--user-data-dir` (and deletes it on close), so tests never share cookies, storage or cache. Close it when done.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!hasChromium) throw new Error(MISSING)
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS })
}

/** `describe` for tests that need Chromium: skipped with a clear message when it is missing, failing under CI=true. */
export function describeBrowser(name: string, body: () => void): void {
  if (hasChromium) {
    describe(name, body)
  } else if (process.env.CI && !['0', 'false'].includes(process.env.CI)) {
    describe(name, () => {
      it('has a Chromium to run in', () => {
        throw new Error(`${MISSING}. CI is set, so browser tests must run.`)
      })
    })
  } else {
    console.warn(`[querysight] skipping browser tests "${name}": ${MISSING}`)
    describe.skip(`${name} (skipped: ${MISSING})`, body)
  }
}
