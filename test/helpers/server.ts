/** Talking to a real querysight server in tests: ingest over HTTP, raw requests with any Host, waiting for conditions. @module */
import { request as httpRequest } from 'node:http'
import { gzipSync } from 'node:zlib'

export async function ingest(url: string, payload: unknown, { gzip = false, headers = {} as Record<string, string>, path = '/api/v1/ingest' } = {}) {
  const json = JSON.stringify(payload)
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}), ...headers },
    body: gzip ? gzipSync(json) : json,
  })
  return { status: response.status, body: (await response.json()) as any, headers: response.headers }
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers })
  return { status: response.status, body: (await response.json()) as any, headers: response.headers }
}

/** A request through node:http, which (unlike fetch) lets a test send any Host header. */
export function rawRequest(url: string, { method = 'GET', headers = {} as Record<string, string>, body = '' } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Resolves once `condition()` is truthy, checking every few milliseconds; fails after `timeoutMs`. */
export async function until<T>(condition: () => T | Promise<T>, { timeoutMs = 10_000, what = 'the condition' } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await condition()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
