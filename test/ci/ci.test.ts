/**
 * End to end: `querysight ci -- pytest` over the small Django project in test/fixtures/ci-project (two views and a
 * test with known N+1s, the fixed twins behind CI_PROJECT_FIXED=1, one extra query behind CI_PROJECT_EXTRA_QUERY=1),
 * run as real child processes: the built CLI (dist/cli.js; `node server/build.mjs`), the real agent and its pytest
 * plugin from .venv.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JsonReport } from '../../server/src/ci/report-json.js'
import { findAll, parseXml } from './xml.js'

const ROOT = new URL('../../', import.meta.url).pathname
const CLI = join(ROOT, 'dist/cli.js')
const PYTHON = join(ROOT, '.venv/bin/python')
const PYTEST = join(ROOT, '.venv/bin/pytest')
const PROJECT = join(ROOT, 'test/fixtures/ci-project')
const VIEWS = readFileSync(join(PROJECT, 'shop/views.py'), 'utf8').split('\n')
const lineOf = (marker: string) => VIEWS.findIndex((line) => line.includes(marker)) + 1
const AUTHOR_LOOP = `shop/views.py:${lineOf('# N+1: one author query per book')}`
const REVIEWS_LOOP = `shop/views.py:${lineOf('# N+1: reviews')}`

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

let dir: string

/** Runs a command to its end, collecting its output; `onSpawn` sees the child while it runs. */
function run(
  command: string,
  args: string[],
  { env = {}, onSpawn, ownGroup = false }: { env?: Record<string, string>; onSpawn?: (pid: number) => void; ownGroup?: boolean } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
    for (const name of ['QUERYSIGHT_URL', 'QUERYSIGHT_OUTPUT', 'CI_PROJECT_FIXED', 'CI_PROJECT_EXTRA_QUERY']) if (!(name in env)) delete childEnv[name]
    // ownGroup: a process group of its own, as a terminal gives the command it runs (Ctrl-C signals the whole group).
    const child = spawn(command, args, { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: ownGroup })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
    if (onSpawn && child.pid) onSpawn(child.pid)
  })
}

const querysight = (args: string[], options?: Parameters<typeof run>[2]) => run('node', [CLI, ...args], options)
const ci = (flags: string[], env: Record<string, string> = {}) => querysight(['ci', ...flags, '--', PYTEST, '-q', PROJECT], { env })
const file = (name: string) => join(dir, name)
const json = (name: string) => JSON.parse(readFileSync(file(name), 'utf8')) as JsonReport
const verdictOf = (report: JsonReport) =>
  report.violations.map((v) => `${v.unit} ${v.kind} ${v.finding?.fingerprint ?? ''} ${v.finding?.callsite?.file}:${v.finding?.callsite?.line}`).sort()

async function until(condition: () => boolean, what: string) {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve))
  for (let i = 0; !condition(); i++) {
    if (i > 600) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe('querysight ci over a Django test suite', () => {
  let broken: Run

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: build it with `node server/build.mjs` (make build)')
    dir = mkdtempSync(join(tmpdir(), 'querysight-ci-'))
    broken = await ci(['--junit', file('broken.xml'), '--json', file('broken.json')])
  })

  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('fails the suite and names each N+1 with its call site and fix', () => {
    expect(broken.code).toBe(1)
    expect(broken.stdout).toContain('5 passed') // pytest's own output passes through
    expect(broken.stdout).toContain('querysight FAILED: 3 violations in 3 of 7 units')
    const sections = broken.stdout.split('\n✗ ').slice(1)
    const section = (title: string) => sections.find((s) => s.startsWith(title)) ?? ''
    expect(section('GET books/: N+1')).toContain(`at ${AUTHOR_LOOP}`)
    expect(section('GET books/: N+1')).toContain('fix: Add .select_related("author")')
    expect(section('GET books/: N+1')).toContain('Book.objects.select_related("author")')
    expect(section('GET books/reviews/: N+1')).toContain(`at ${REVIEWS_LOOP}`)
    expect(section('GET books/reviews/: N+1')).toContain('fix: Add .prefetch_related("reviews")')
    expect(section('tests/test_books.py::test_author_names: N+1')).toMatch(/at (tests\/)?test_books\.py:\d+/)
  })

  it('lets the pytest marker allow the N+1 of its own test', () => {
    const report = json('broken.json')
    expect(report.units.find((u) => u.name === 'tests/test_books.py::test_admin_export_may_loop')).toMatchObject({ outcome: 'pass', findings: { n_plus_one: 1 } })
  })

  it("holds a TransactionTestCase to its marker's max_queries without the flush Django runs after it", () => {
    const report = json('broken.json')
    expect(report.units.find((u) => u.name === 'tests/test_stock.py::StockTests::test_books_counted')).toMatchObject({ outcome: 'pass', queries: 1 })
  })

  it('writes a JUnit file with a testcase per unit and a failure per violation', () => {
    const root = parseXml(readFileSync(file('broken.xml'), 'utf8'))
    const cases = findAll(root, 'testcase')
    expect(cases.map((c) => c.attrs.name)).toEqual([
      'GET books/',
      'GET books/reviews/',
      'tests/test_books.py::test_admin_export_may_loop',
      'tests/test_books.py::test_author_names',
      'tests/test_books.py::test_book_list',
      'tests/test_books.py::test_book_reviews',
      'tests/test_stock.py::StockTests::test_books_counted',
    ])
    const failing = cases.filter((c) => findAll(c, 'failure').length)
    expect(failing.map((c) => c.attrs.name)).toEqual(['GET books/', 'GET books/reviews/', 'tests/test_books.py::test_author_names'])
    expect(findAll(failing[0], 'failure')[0].text).toContain(`at ${AUTHOR_LOOP}`)
  })

  it('passes the same suite with the fixes, and appends a Markdown summary for the CI job', async () => {
    writeFileSync(file('summary.md'), '# an earlier step\n')
    const fixed = await ci(['--markdown', file('summary.md')], { CI_PROJECT_FIXED: '1' })
    expect(fixed.stdout).toMatch(/querysight passed: 7 units, \d+ queries/)
    expect(fixed.code).toBe(0)
    expect(readFileSync(file('summary.md'), 'utf8')).toMatch(/^# an earlier step\n### ✅ querysight passed: 7 units/)
  })

  it('prints only the report on stdout with --format json, the command\'s own output on stderr', async () => {
    const run = await ci(['--format', 'json'], { CI_PROJECT_FIXED: '1' })
    expect(run.code).toBe(0)
    expect((JSON.parse(run.stdout) as JsonReport).totals).toMatchObject({ units: 7 })
    expect(run.stderr).toContain('5 passed')
  })

  it('checks only the units of this run when it keeps them in a --db file', async () => {
    for (let i = 0; i < 2; i++) {
      const kept = await ci(['--db', file('kept.db'), '--json', file(`kept-${i}.json`)], { CI_PROJECT_FIXED: '1' })
      expect(kept.code).toBe(0)
      expect(json(`kept-${i}.json`).totals).toMatchObject({ units: 7, runs: 7 })
    }
  })

  it('fails a view that gained one query against the recorded baseline, with a diff', async () => {
    const record = ['--baseline', file('baseline.json'), '--update-baseline']
    expect((await ci(record, { CI_PROJECT_FIXED: '1' })).code).toBe(0)
    const first = readFileSync(file('baseline.json'), 'utf8')
    expect((await ci(record, { CI_PROJECT_FIXED: '1' })).code).toBe(0)
    expect(readFileSync(file('baseline.json'), 'utf8')).toBe(first)
    expect(JSON.parse(first).units['GET books/']).toMatchObject({ kind: 'request', queries: 1 })

    const grown = await ci(['--baseline', file('baseline.json')], { CI_PROJECT_FIXED: '1', CI_PROJECT_EXTRA_QUERY: '1' })
    expect(grown.code).toBe(1)
    expect(grown.stdout).toContain("✗ GET books/: more queries than the baseline\n    2 queries, 1 more than the baseline's 1\n    + 1× select count(*)")
    expect(grown.stdout).toMatch(/\+ 1× select count\(\*\).* from "shop_author"/)
    expect(grown.stdout).toContain('querysight FAILED: 1 violation in 1 of 7 units')
  })

  it('silences one finding with an allow entry and shows its reason', async () => {
    writeFileSync(file('budget.json'), JSON.stringify({ allow: [{ callsite: REVIEWS_LOOP, reason: 'six books in the demo shop' }] }))
    const allowed = await ci(['--budget', file('budget.json'), '--json', file('allowed.json')])
    expect(allowed.code).toBe(1)
    const report = json('allowed.json')
    expect(report.violations.map((v) => `${v.unit} ${v.kind}`)).toEqual(['GET books/ n_plus_one', 'tests/test_books.py::test_author_names n_plus_one'])
    expect(report.notes).toContainEqual(expect.objectContaining({ unit: 'GET books/reviews/', kind: 'allowed', reason: 'six books in the demo shop' }))
    expect(allowed.stdout).toContain('    reason: six books in the demo shop')
  })

  it('gives the same verdict with check on NDJSON recorded by QUERYSIGHT_OUTPUT', async () => {
    const recorded = await run(PYTEST, ['-q', PROJECT], { env: { QUERYSIGHT_OUTPUT: file('run.ndjson') } })
    expect(recorded.code).toBe(0)
    const checked = await querysight(['check', file('run.ndjson'), '--json', file('checked.json')])
    expect(checked.code).toBe(1)
    expect(verdictOf(json('checked.json'))).toEqual(verdictOf(json('broken.json')))
    expect(verdictOf(json('checked.json'))).toHaveLength(3)
  })

  it('refuses a budget file with an unknown key before running anything', async () => {
    writeFileSync(file('typo.json'), JSON.stringify({ units: { 'GET books/': { max_query: 5 } } }))
    const marker = file('ran')
    const refused = await querysight(['ci', '--budget', file('typo.json'), '--', PYTHON, '-c', `open(${JSON.stringify(marker)}, "w")`])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('BudgetFileError: unknown key "max_query" in units["GET books/"]; did you mean "max_queries"?')
    expect(existsSync(marker)).toBe(false)
  })

  it('says QUERYSIGHT_ENABLED turned the agent off when a run recorded nothing with it set', async () => {
    const off = await querysight(['ci', '--', PYTEST, '-q', PROJECT], { env: { QUERYSIGHT_ENABLED: '0' } })
    expect(off.code).toBe(1)
    expect(off.stdout).toContain('no units were recorded: QUERYSIGHT_ENABLED is off in the environment ci ran the command in')
    expect(off.stdout).not.toContain('pip install')
  })

  it("exits with the command's own code when the command fails", async () => {
    const failed = await querysight(['ci', '--', PYTHON, '-c', 'import sys; sys.exit(3)'])
    expect(failed.code).toBe(3)
    const violations = failed.stdout.split('\n').filter((line) => line.startsWith('✗ '))
    expect(violations).toEqual(['✗ the command failed', '✗ nothing recorded'])
    expect(failed.stdout).toContain('the command exited 3 (see its output)')
    expect(failed.stdout.trim().split('\n').at(-1)).toBe('querysight FAILED: the command exited 3; 0 units, 0 queries')
    expect(failed.stdout).toContain('no units were recorded before the command failed')
    expect(failed.stdout).not.toContain('pip install')
  })

  it('says which signal ended a command killed by one, with the exit code a shell would give', async () => {
    const killed = await querysight(['ci', '--', PYTHON, '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'])
    expect(killed.code).toBe(137)
    expect(killed.stdout).toContain('the command was killed by SIGKILL (exit 137) (see its output)')
    expect(killed.stdout.trim().split('\n').at(-1)).toBe('querysight FAILED: the command was killed by SIGKILL (exit 137); 0 units, 0 queries')
  })

  it('forwards SIGTERM to the command and closes its server with it', async () => {
    const ready = file('ready')
    const script = [
      'import os, signal, sys, time',
      `def stop(*_): open(${JSON.stringify(file('stopped'))}, "w").write("TERM"); sys.exit(7)`,
      'signal.signal(signal.SIGTERM, stop)',
      `open(${JSON.stringify(ready)}, "w").write(os.environ["QUERYSIGHT_URL"])`,
      'while True: time.sleep(1)',
    ].join('\n')
    let pid = 0
    const running = querysight(['ci', '--', PYTHON, '-c', script], { onSpawn: (p) => (pid = p) })
    await until(() => existsSync(ready) && readFileSync(ready, 'utf8').startsWith('http'), 'the command to start')
    const url = readFileSync(ready, 'utf8')
    expect((await fetch(`${url}/api/v1/health`)).ok).toBe(true)
    process.kill(pid, 'SIGTERM')
    const ended = await running
    expect(ended.code).toBe(7)
    expect(readFileSync(file('stopped'), 'utf8')).toBe('TERM')
    await expect(fetch(`${url}/api/v1/health`)).rejects.toThrow()
  })

  it('lets Ctrl-C reach the command once: the terminal signals its whole process group, the command included', async () => {
    const ready = file('ready-int')
    const script = [
      'import os, signal, sys, time',
      'seen = []',
      `def stop(*_): seen.append(1); open(${JSON.stringify(file('interrupts'))}, "a").write("INT\\n")`,
      'signal.signal(signal.SIGINT, stop)',
      `open(${JSON.stringify(ready)}, "w").write("up")`,
      'while not seen: time.sleep(0.02)',
      'time.sleep(1)  # a second SIGINT, had one come, would be written during this',
      'sys.exit(130)',
    ].join('\n')
    let pid = 0
    const running = querysight(['ci', '--', PYTHON, '-c', script], { onSpawn: (p) => (pid = p), ownGroup: true })
    await until(() => existsSync(ready), 'the command to start')
    process.kill(-pid, 'SIGINT')
    const ended = await running
    expect(ended.code).toBe(130)
    expect(readFileSync(file('interrupts'), 'utf8')).toBe('INT\n')
  })
})
