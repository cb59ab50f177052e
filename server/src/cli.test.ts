import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { VERSION } from './version.js'

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname

describe('the querysight command', () => {
  it('prints the version of package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    expect(VERSION).toBe(pkg.version)
    expect(execFileSync('node', [CLI, '--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version)
  })

  it('starts a server on port 0 that answers its health check', async () => {
    const child = spawn('node', [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk
          const match = /listening on (http:\/\/\S+)/.exec(out)
          if (match) resolve(match[1])
        })
        child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${out}`)))
      })
      const health = await (await fetch(`${url}/api/v1/health`)).json()
      expect(health).toMatchObject({ ok: true, version: VERSION, protocol: 1 })
    } finally {
      child.kill('SIGTERM')
    }
  })
})
