// Fingerprint cost per query over a realistic mix of Django-style SQL, printed next to the cost of JSON.parse of the
// same SQL strings (each as a JSON string literal), measured side by side in the same run. Nothing here asserts on time.
import { fingerprint, fingerprintId } from '../../server/src/analysis/fingerprint.js'
import type { Dialect } from '../../server/src/analysis/lexer.js'

const QUERIES = 4000
const ROUNDS = 7

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const random = mulberry32(42)
const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]
const int = (max: number) => 1 + Math.floor(random() * max)

const APPS = ['shop', 'blog', 'auth', 'billing', 'catalog', 'crm']
const MODELS = ['book', 'author', 'order', 'orderline', 'customer', 'review', 'tag', 'invoice', 'product', 'comment']
const COLUMNS = ['title', 'name', 'email', 'created_at', 'updated_at', 'status', 'price', 'slug', 'is_active', 'rating']

/** One Django-looking query: the shapes the ORM sends most (get, filter, prefetch IN, select_related join, writes). */
function djangoQuery(dialect: Dialect): string {
  const q = (name: string) => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`)
  const param = () => (random() < 0.7 ? '%s' : String(int(100000)))
  const table = `${pick(APPS)}_${pick(MODELS)}`
  const other = `${pick(APPS)}_${pick(MODELS)}`
  const cols = Array.from({ length: 2 + int(10) }, (_, i) => `${q(table)}.${q(i === 0 ? 'id' : `${pick(COLUMNS)}_${i}`)}`)
  const select = `SELECT ${cols.join(', ')} FROM ${q(table)}`
  switch (int(9)) {
    case 1:
      return `${select} WHERE ${q(table)}.${q('id')} = ${param()} LIMIT 21`
    case 2:
      return `${select} WHERE ${q(table)}.${q(`${pick(MODELS)}_id`)} IN (${Array.from({ length: int(60) }, param).join(', ')})`
    case 3:
      return `${select} INNER JOIN ${q(other)} ON (${q(table)}.${q(`${pick(MODELS)}_id`)} = ${q(other)}.${q('id')}) WHERE (${q(other)}.${q(pick(COLUMNS))} = ${param()} AND ${q(table)}.${q('created_at')} >= '2024-0${int(9)}-1${int(8)}') ORDER BY ${q(table)}.${q('id')} DESC LIMIT ${int(50)} OFFSET ${int(500)}`
    case 4:
      return `SELECT COUNT(*) AS ${q('__count')} FROM ${q(table)} WHERE ${q(table)}.${q(`${pick(MODELS)}_id`)} = ${param()}`
    case 5: {
      const fields = Array.from({ length: 2 + int(6) }, (_, i) => q(`${pick(COLUMNS)}_${i}`))
      const row = `(${fields.map(param).join(', ')})`
      const rows = Array.from({ length: int(20) }, () => row).join(', ')
      return `INSERT INTO ${q(table)} (${fields.join(', ')}) VALUES ${rows}${dialect === 'pg' ? ` RETURNING ${q(table)}.${q('id')}` : ''}`
    }
    case 6:
      return `UPDATE ${q(table)} SET ${q(pick(COLUMNS))} = ${param()}, ${q('updated_at')} = '2024-06-0${int(9)}T10:00:00' WHERE ${q(table)}.${q('id')} = ${param()}`
    case 7:
      return random() < 0.5 ? `SAVEPOINT ${q(`s${int(1e9)}_x${int(99)}`)}` : `RELEASE SAVEPOINT ${q(`s${int(1e9)}_x${int(99)}`)}`
    case 8:
      return `SELECT 1 AS ${q('a')} FROM ${q(table)} WHERE (${q(table)}.${q('email')} = '${pick(MODELS)}${int(1e6)}@example.com' AND NOT (${q(table)}.${q('is_active')})) LIMIT 1 /*controller='${pick(MODELS)}',route='%%5E${pick(APPS)}/%%24',traceparent='00-${int(1e9).toString(16)}-01'*/`
    default:
      return `${select} WHERE (${q(table)}.${q(pick(COLUMNS))} LIKE %s ESCAPE '\\' OR ${q(table)}.${q('id')} IN (SELECT U0.${q('id')} FROM ${q(other)} U0 WHERE U0.${q('rating')} > ${int(5)})) ORDER BY ${q(table)}.${q(pick(COLUMNS))} ASC`
  }
}

const dialects: Dialect[] = ['pg', 'sqlite', 'mysql']
const distinct = new Map<string, Dialect>()
while (distinct.size < QUERIES) {
  const dialect = pick(dialects)
  distinct.set(djangoQuery(dialect), dialect)
}
const queries = [...distinct.entries()]
const jsonLiterals = queries.map(([sql]) => JSON.stringify(sql))
const totalChars = queries.reduce((sum, [sql]) => sum + sql.length, 0)

/** Best time in ms of `ROUNDS` passes over every query (after one warm-up pass). */
function best(pass: () => number): number {
  pass()
  let fastest = Infinity
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now()
    pass()
    fastest = Math.min(fastest, performance.now() - start)
  }
  return fastest
}

let sink = 0
const fingerprintMs = best(() => {
  for (const [sql, dialect] of queries) sink += fingerprint(sql, dialect).length
  return sink
})
const fingerprintAndIdMs = best(() => {
  for (const [sql, dialect] of queries) sink += fingerprintId(fingerprint(sql, dialect)).length
  return sink
})
const parseMs = best(() => {
  for (const literal of jsonLiterals) sink += (JSON.parse(literal) as string).length
  return sink
})

const groups = new Set(queries.map(([sql, dialect]) => fingerprint(sql, dialect))).size
const perQuery = (ms: number) => (ms * 1000) / queries.length
const perSecond = (ms: number) => queries.length / (ms / 1000)

console.log(`${queries.length} distinct Django-style queries (pg, sqlite, mysql), ${Math.round(totalChars / queries.length)} chars on average, ${groups} fingerprints`)
console.log(`fingerprint          ${perQuery(fingerprintMs).toFixed(2)} µs/query  ${Math.round(perSecond(fingerprintMs)).toLocaleString('en-US')} queries/s`)
console.log(`fingerprint + id     ${perQuery(fingerprintAndIdMs).toFixed(2)} µs/query  ${Math.round(perSecond(fingerprintAndIdMs)).toLocaleString('en-US')} queries/s`)
console.log(`JSON.parse same SQL  ${perQuery(parseMs).toFixed(2)} µs/query  ${Math.round(perSecond(parseMs)).toLocaleString('en-US')} queries/s`)
console.log(`fingerprint costs ${(fingerprintMs / parseMs).toFixed(1)}x JSON.parse of the same strings (best of ${ROUNDS} passes; sink ${sink % 10})`)

const note = `${queries.length} distinct queries, ${Math.round(totalChars / queries.length)} chars avg`
console.log(
  `BENCH_JSON ${JSON.stringify({
    rows: [
      { metric: 'fingerprint', value: perSecond(fingerprintMs), unit: 'q/s', note: `${perQuery(fingerprintMs).toFixed(2)} µs/query; ${note}` },
      { metric: 'fingerprint + id', value: perSecond(fingerprintAndIdMs), unit: 'q/s', note: `${perQuery(fingerprintAndIdMs).toFixed(2)} µs/query` },
      { metric: 'JSON.parse of the same SQL', value: perSecond(parseMs), unit: 'q/s', note: `${perQuery(parseMs).toFixed(2)} µs/query` },
      { metric: 'fingerprint time / JSON.parse time', value: fingerprintMs / parseMs, unit: 'x', ratio: fingerprintMs / parseMs },
    ],
  })}`,
)
