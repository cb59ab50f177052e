import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { InvalidPayloadError } from './errors.js'
import { LIMITS, parseIngestPayload } from './protocol.js'

const fixtures = new URL('../../test/fixtures/protocol/', import.meta.url)
const read = (dir: string) =>
  readdirSync(new URL(dir, fixtures))
    .filter((file) => file.endsWith('.json'))
    .map((file) => [file, JSON.parse(readFileSync(new URL(`${dir}${file}`, fixtures), 'utf8'))] as const)

const minimal = () => ({
  protocol: 1,
  agent: { name: 'querysight-python', version: '0.1.0' },
  app: { name: 'bookshop' },
  units: [{ id: 'u1', kind: 'request', name: 'GET /', started_at: 1, duration_ms: 1, queries: [{ sql: 'SELECT 1', params: null, db: 'default', vendor: 'sqlite', start_ms: 0, duration_ms: 0 }] }],
})

function errorOf(payload: unknown): InvalidPayloadError {
  try {
    parseIngestPayload(payload)
  } catch (err) {
    if (err instanceof InvalidPayloadError) return err
    throw err
  }
  throw new Error('the payload was accepted')
}

describe('parseIngestPayload', () => {
  it.each(read('valid/'))('accepts the golden payload %s', (_file, payload) => {
    expect(parseIngestPayload(payload).units.length).toBe(payload.units.length)
  })

  it.each(read('invalid/'))('rejects the golden payload %s at the field it names', (_file, { payload, expect: expected }) => {
    const error = errorOf(payload)
    expect(error.status).toBe(expected.status)
    expect(error.code).toBe('invalid_payload')
    expect(error.path).toBe(expected.path)
  })

  it('fills the optional fields with their defaults and drops unknown ones', () => {
    const payload = minimal()
    Object.assign(payload.units[0], { extra: 'ignored' })
    const unit = parseIngestPayload(payload).units[0]
    expect(unit).toEqual({
      id: 'u1', kind: 'request', name: 'GET /', method: null, path: null, route: null, view: null, status: null, started_at: 1, duration_ms: 1, meta: {}, dropped_queries: 0,
      queries: [{ sql: 'SELECT 1', params: null, db: 'default', vendor: 'sqlite', start_ms: 0, duration_ms: 0, many: false, error: null, callsite: null, stack: [] }],
    })
  })

  it("drops save signal names it does not know, as it drops unknown fields (a later agent's)", () => {
    const payload = { ...minimal(), schema: { models: [{ model: 'shop.Book', table: 'shop_book', pk: 'id', relations: [], save_signals: ['post_delete', 'post_save'] }] } }
    expect(parseIngestPayload(payload).schema?.models[0].save_signals).toEqual(['post_save'])
  })

  it('takes the call site from the first stack frame when the agent leaves it out', () => {
    const payload = minimal()
    Object.assign(payload.units[0].queries[0], { stack: [{ file: 'shop/views.py', line: 3, function: 'index' }] })
    expect(parseIngestPayload(payload).units[0].queries[0].callsite).toEqual({ file: 'shop/views.py', line: 3, function: 'index' })
  })

  it('normalizes the reported page origin', () => {
    const payload = minimal()
    Object.assign(payload.app, { origin: 'HTTP://LocalHost:8000/some/page' })
    expect(parseIngestPayload(payload).app.origin).toBe('http://localhost:8000')
  })

  it(`rejects a batch of more than ${LIMITS.unitsPerBatch} units`, () => {
    const payload = minimal()
    payload.units = Array.from({ length: LIMITS.unitsPerBatch + 1 }, (_, i) => ({ ...payload.units[0], id: `u${i}` }))
    expect(errorOf(payload)).toMatchObject({ path: 'units', message: expect.stringMatching(/at most 1000/) })
  })

  it('measures the SQL limit in UTF-8 bytes, not characters', () => {
    const payload = minimal()
    payload.units[0].queries[0].sql = `SELECT '${'é'.repeat(52 * 1024)}'`
    expect(errorOf(payload).path).toBe('units[0].queries[0].sql')
    payload.units[0].queries[0].sql = `SELECT '${'e'.repeat(99 * 1024)}'`
    expect(() => parseIngestPayload(payload)).not.toThrow()
  })

  it(`keeps where a template was included, at most ${LIMITS.includedFrom} positions, and its recursion depth`, () => {
    const payload = minimal()
    const included_from = [{ name: 'shop/book_list.html', line: 5 }]
    Object.assign(payload.units[0].queries[0], { template: { name: 'shop/_author.html', line: 1, included_from } })
    expect(parseIngestPayload(payload).units[0].queries[0].template).toEqual({ name: 'shop/_author.html', line: 1, included_from })
    Object.assign(payload.units[0].queries[0], { template: { name: 'shop/_author.html', line: 1, included_from: [] } })
    expect(parseIngestPayload(payload).units[0].queries[0].template).toEqual({ name: 'shop/_author.html', line: 1 })
    Object.assign(payload.units[0].queries[0], { template: { name: 'shop/tree.html', line: 1, recursion_depth: 2 } })
    expect(parseIngestPayload(payload).units[0].queries[0].template).toEqual({ name: 'shop/tree.html', line: 1, recursion_depth: 2 })
    for (const depth of [-1, 1.5, '2']) {
      Object.assign(payload.units[0].queries[0], { template: { name: 'shop/tree.html', line: 1, recursion_depth: depth } })
      expect(errorOf(payload).path).toBe('units[0].queries[0].template.recursion_depth')
    }
    const nine = Array.from({ length: LIMITS.includedFrom + 1 }, (_, i) => ({ name: `t${i}.html`, line: 1 }))
    Object.assign(payload.units[0].queries[0], { template: { name: 'shop/_author.html', line: 1, included_from: nine } })
    expect(errorOf(payload)).toMatchObject({ path: 'units[0].queries[0].template.included_from', message: expect.stringMatching(/has 17 positions; at most 16/) })
  })

  it('says what was wrong and what was expected', () => {
    const payload = minimal()
    Object.assign(payload.units[0], { kind: 'job' })
    expect(errorOf(payload).message).toBe('units[0].kind: must be one of request, test, task, command, block, got string "job"')
  })
})
