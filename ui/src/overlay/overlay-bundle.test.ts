import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const LIMIT_BYTES = 15 * 1024

describe('the overlay bundle', () => {
  let dir: string
  let code: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'querysight-overlay-'))
    await promisify(execFile)(process.execPath, ['ui/build.mjs', '--outdir', dir])
    code = await readFile(join(dir, 'overlay.js'), 'utf8')
  })

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('stays under 15 KB gzipped', () => {
    const gzipped = gzipSync(code, { level: 9 }).length
    console.log(`[querysight] overlay.js: ${code.length} bytes, ${gzipped} bytes gzipped (limit ${LIMIT_BYTES})`)
    expect(gzipped).toBeLessThan(LIMIT_BYTES)
  })

  it('is a classic script for <script async>: one function expression, no import or export', () => {
    expect(code).not.toMatch(/^\s*(import|export)\s/m)
    expect(code.trimStart().startsWith('(()=>{') || code.trimStart().startsWith('"use strict";(()=>{')).toBe(true)
  })
})
