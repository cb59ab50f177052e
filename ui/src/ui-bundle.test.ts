import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const LIMIT_BYTES = 80 * 1024

describe('the UI bundle', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'querysight-ui-'))
    await promisify(execFile)(process.execPath, ['ui/build.mjs', '--outdir', dir])
  })

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('stays under 80 KB gzipped, scripts and styles together', async () => {
    const files = ['assets/app.js', 'assets/app.css', 'index.html']
    const sizes = await Promise.all(files.map(async (file) => gzipSync(await readFile(join(dir, file)), { level: 9 }).length))
    const total = sizes.reduce((sum, size) => sum + size, 0)
    console.log(`[querysight] UI bundle: ${files.map((f, i) => `${f} ${sizes[i]} B`).join(', ')}; ${total} bytes gzipped (limit ${LIMIT_BYTES})`)
    expect(sizes[0]).toBeGreaterThan(1024)
    expect(total).toBeLessThan(LIMIT_BYTES)
  })

  it('needs no network: no script, style or font from another host', async () => {
    const html = await readFile(join(dir, 'index.html'), 'utf8')
    const css = await readFile(join(dir, 'assets/app.css'), 'utf8')
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//)
    expect(css).not.toMatch(/url\((['"])?(https?:)?\/\//)
  })
})
