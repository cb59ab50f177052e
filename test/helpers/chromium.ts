/**
 * The system's Chromium, started headless by playwright-core (no browser download). Free of vitest so benchmarks
 * can use it too; tests use `describeBrowser` from browser.ts.
 * @module
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

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

export const MISSING_CHROMIUM = `Chromium not found at ${CHROMIUM_PATH}; install it (apt-get install chromium, or make chromium under CI) or set CHROMIUM_PATH`

/**
 * Starts headless Chromium with the flags above. playwright-core gives every launch a fresh temporary
 * `--user-data-dir` (and deletes it on close), so runs never share cookies, storage or cache. Close it when done.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!hasChromium) throw new Error(MISSING_CHROMIUM)
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS })
}
