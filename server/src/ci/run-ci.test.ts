import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UsageError } from '../errors.js'
import { BaselineFileError } from './baseline.js'
import { BudgetFileError } from './budget.js'
import type { JsonReport } from './report-json.js'
import { loadInputs, NdjsonError, parseCiArgs, parseNdjson, runCheck, runCi } from './run-ci.js'

const payload = (units: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ protocol: 1, agent: { name: 'querysight-python', version: '0.1.0' }, app: { name: 'shop', framework: 'django' }, units, ...extra })

const wireUnit = (id: string, sqls: string[]) => ({
  id,
  kind: 'test',
  name: `tests/t.py::${id}`,
  started_at: 1_763_800_000_000,
  duration_ms: 5,
  meta: {},
  dropped_queries: 0,
  queries: sqls.map((sql, i) => ({
    sql,
    params: [i],
    db: 'default',
    vendor: 'sqlite',
    start_ms: i,
    duration_ms: 0.1,
    many: false,
    error: null,
    callsite: { file: 'shop/views.py', line: 9, function: 'book_list' },
    stack: [{ file: 'shop/views.py', line: 9, function: 'book_list' }],
  })),
})

describe('the ci and check arguments', () => {
  it('take the command after -- for ci and the files for check', () => {
    expect(parseCiArgs('ci', ['--junit', 'j.xml', '--format', 'markdown', '--', 'pytest', '--junit', 'x'])).toMatchObject({
      flags: { junit: 'j.xml', format: 'markdown', updateBaseline: false, budget: null },
      rest: ['pytest', '--junit', 'x'],
    })
    expect(parseCiArgs('check', ['a.ndjson', '--update-baseline', 'b.ndjson'])).toMatchObject({ flags: { updateBaseline: true }, rest: ['a.ndjson', 'b.ndjson'] })
  })

  it('say what is missing or wrong', () => {
    expect(() => parseCiArgs('ci', ['--junit', 'j.xml'])).toThrow(new UsageError('give the command to run after --, as in: querysight ci -- pytest'))
    expect(() => parseCiArgs('ci', ['pytest'])).toThrow(/put the command to run after --/)
    expect(() => parseCiArgs('ci', ['--format', 'html', '--', 'pytest'])).toThrow('--format must be one of text, json, markdown, got "html"')
    expect(() => parseCiArgs('check', [])).toThrow(/give the NDJSON files to check/)
    expect(() => parseCiArgs('check', ['--db', 'x.db', 'a.ndjson'])).toThrow(/--db is for querysight ci/)
  })
})

describe('the budget and baseline files of a run', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'querysight-inputs-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const flags = parseCiArgs('check', ['x.ndjson']).flags

  it('are found in the working directory when not given', () => {
    writeFileSync(join(dir, 'querysight.budget.json'), '{"defaults": {"max_queries": 4}}')
    writeFileSync(join(dir, 'querysight.baseline.json'), '{"version": 1, "units": {}}')
    const inputs = loadInputs(flags, dir)
    expect(inputs.budget).toMatchObject({ file: 'querysight.budget.json', defaults: { max_queries: 4 } })
    expect(inputs).toMatchObject({ baseline: { units: {} }, baselineShown: 'querysight.baseline.json' })
  })

  it('default to the built-in budget and no baseline', () => {
    expect(loadInputs(flags, dir)).toMatchObject({ budget: { file: null }, baseline: null, baselinePath: null })
  })

  it('must exist when named, except a baseline about to be recorded', () => {
    expect(() => loadInputs({ ...flags, budget: 'nope.json' }, dir)).toThrow(new BudgetFileError('cannot read nope.json (ENOENT); give the path of an existing file'))
    expect(() => loadInputs({ ...flags, baseline: 'b.json' }, dir)).toThrow(
      new BaselineFileError('there is no baseline at b.json; record one with --update-baseline --baseline b.json'),
    )
    expect(loadInputs({ ...flags, baseline: 'b.json', updateBaseline: true }, dir)).toMatchObject({ baseline: null, baselinePath: join(dir, 'b.json') })
  })
})

describe('recorded NDJSON batches', () => {
  it('are analysed as the server would analyse them on ingest', () => {
    const sql = 'SELECT "shop_author"."id" FROM "shop_author" WHERE "shop_author"."id" = %s LIMIT 21'
    const units = parseNdjson(`${payload([wireUnit('a', [sql, sql, sql])])}\n\n${payload([wireUnit('b', [])])}\n`, 'run.ndjson')
    expect(units.map((u) => [u.name, u.queries.length])).toEqual([
      ['tests/t.py::a', 3],
      ['tests/t.py::b', 0],
    ])
    expect(units[0].findings.map((f) => f.kind)).toContain('n_plus_one')
    expect(units[0].queries[0].fingerprint).toMatch(/^[0-9a-f]{16}$/)
  })

  it('name the file and line of a broken batch', () => {
    expect(() => parseNdjson(`${payload([])}\n{"protocol": 1`, 'run.ndjson')).toThrow(NdjsonError)
    expect(() => parseNdjson(`${payload([])}\n{"protocol": 1`, 'run.ndjson')).toThrow(/^run\.ndjson:2 is not JSON/)
    expect(() => parseNdjson(payload([{ ...wireUnit('a', []), kind: 'job' }]), 'run.ndjson')).toThrow(/^run\.ndjson:1 is not an ingest payload: units\[0\]\.kind/)
  })
})

describe('the analysis thresholds of ci and check', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'querysight-thresholds-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const lookup = 'SELECT "shop_author"."id" FROM "shop_author" WHERE "shop_author"."id" = %s LIMIT 21'
  const twoLookups = wireUnit('two-lookups', [lookup, lookup])
  const slowList = wireUnit('slow-list', ['SELECT "shop_book"."id" FROM "shop_book"'])
  slowList.queries[0].duration_ms = 50
  const batch = payload([twoLookups, slowList])
  const flags = ['--min-repeats', '3', '--slow-ms', '20', '--json', 'report.json']
  const io = () => ({ cwd: dir, stdout: () => {}, stderr: () => {} })
  const findingsOf = () => {
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as JsonReport
    return [...report.violations, ...report.notes].flatMap((v) => (v.finding ? [`${v.unit} ${v.finding.kind}`] : [])).sort()
  }

  it('are read from the flags, and a flag not given keeps the default', () => {
    expect(parseCiArgs('check', ['a.ndjson', '--min-repeats', '3', '--slow-ms', '20']).flags.analysis).toEqual({ minRepeats: 3, slowMs: 20 })
    expect(parseCiArgs('ci', ['--n-plus-one-error-repeats', '5', '--n-plus-one-error-ms', '7.5', '--', 'pytest']).flags.analysis).toEqual({
      nPlusOneErrorRepeats: 5,
      nPlusOneErrorWastedMs: 7.5,
    })
    expect(parseCiArgs('check', ['a.ndjson']).flags.analysis).toEqual({})
    expect(() => parseCiArgs('check', ['a.ndjson', '--slow-ms', 'fast'])).toThrow('--slow-ms must be a number of at least 0, got "fast"')
  })

  it('apply to the NDJSON batches check analyses', async () => {
    writeFileSync(join(dir, 'run.ndjson'), `${batch}\n`)
    await runCheck(['run.ndjson', ...flags], io())
    expect(findingsOf()).toEqual(['tests/t.py::slow-list slow_query'])
  })

  it('apply to the server ci starts', async () => {
    const post = `fetch(process.env.QUERYSIGHT_URL + '/api/v1/ingest', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(batch)} })
      .then((r) => process.exit(r.status === 202 ? 0 : 3))`
    expect(await runCi([...flags, '--', process.execPath, '-e', post], io())).toBe(0)
    expect(findingsOf()).toEqual(['tests/t.py::slow-list slow_query'])
  })
})

describe('recording a baseline', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'querysight-baseline-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('says how many units it wrote, in words that fit the number', async () => {
    writeFileSync(join(dir, 'run.ndjson'), `${payload([wireUnit('a', ['SELECT 1'])])}\n`)
    let said = ''
    await runCheck(['run.ndjson', '--update-baseline'], { cwd: dir, stdout: () => {}, stderr: (text) => (said += text) })
    expect(said).toBe('querysight: wrote querysight.baseline.json (1 unit); commit it\n')
  })

  it('names the units of the baseline it replaced that this run left out (a part of the suite)', async () => {
    const units = ['a', 'b', 'c'].map((id) => wireUnit(id, ['SELECT 1'])) // tests/t.py::a, ::b, ::c
    writeFileSync(join(dir, 'all.ndjson'), `${payload(units)}\n`)
    writeFileSync(join(dir, 'part.ndjson'), `${payload(units.slice(1, 2))}\n`)
    const update = async (file: string) => {
      let said = ''
      await runCheck([file, '--update-baseline'], { cwd: dir, stdout: () => {}, stderr: (text) => (said += text) })
      return said
    }
    expect(await update('all.ndjson')).toBe('querysight: wrote querysight.baseline.json (3 units); commit it\n')
    expect(await update('part.ndjson')).toBe(
      'querysight: wrote querysight.baseline.json (1 unit); commit it\n' +
        'querysight: 2 units of the baseline it replaced did not run and are no longer in it: tests/t.py::a, tests/t.py::c; after a part of the suite (-k, --lf), run the whole suite with --update-baseline to keep them\n',
    )
  })
})

describe('writing the reports and the baseline', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'querysight-reports-'))
    writeFileSync(join(dir, 'run.ndjson'), `${payload([wireUnit('a', ['SELECT 1'])])}\n`)
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const check = async (...flags: string[]) => {
    let said = ''
    const code = await runCheck(['run.ndjson', ...flags], { cwd: dir, stdout: () => {}, stderr: (text) => (said += text) })
    return { code, said }
  }

  it('says which files held no unit and how to record some, instead of how to install the agent for ci', async () => {
    writeFileSync(join(dir, 'empty.ndjson'), '')
    let report = ''
    const code = await runCheck(['empty.ndjson'], { cwd: dir, stdout: (text) => (report += text), stderr: () => {} })
    expect(code).toBe(1)
    expect(report).toContain(
      "no units in empty.ndjson: record them with QUERYSIGHT_OUTPUT=<file> set where the tests run (the pytest plugin), where the app serves requests (QuerySightMiddleware) or around a script's querysight.capture() blocks",
    )
    expect(report).not.toContain('pip install')
  })

  it('makes the folders a report or the baseline goes in', async () => {
    expect((await check('--junit', 'out/a/junit.xml', '--baseline', 'out/b/baseline.json', '--update-baseline')).code).toBe(0)
    expect(readFileSync(join(dir, 'out/a/junit.xml'), 'utf8')).toContain('<testsuite')
    expect(JSON.parse(readFileSync(join(dir, 'out/b/baseline.json'), 'utf8')).units).toHaveProperty(['tests/t.py::a'])
  })

  it('names a file it cannot write and exits 2, with no stack trace', async () => {
    writeFileSync(join(dir, 'taken'), 'a file, not a folder')
    expect(await check('--junit', 'taken/junit.xml')).toEqual({
      code: 2,
      said: 'querysight: OutputFileError: cannot write taken/junit.xml (ENOTDIR); give a path in a folder that exists or can be made\n',
    })
    const baseline = await check('--baseline', 'taken/baseline.json', '--update-baseline')
    expect(baseline.code).toBe(2)
    expect(baseline.said).toContain('cannot write taken/baseline.json (ENOTDIR)')
    // A folder that cannot be made: under /proc, where Node's own recursive mkdir never returns.
    expect((await check('--json', '/proc/querysight-none/r.json')).said).toContain('cannot write /proc/querysight-none/r.json (ENOENT)')
  })
})
