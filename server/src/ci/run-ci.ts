/**
 * `querysight ci -- CMD...` and `querysight check FILE.ndjson...`: the I/O around the pure check. `ci` starts an
 * ephemeral server (127.0.0.1, port 0, no UI, in-memory store unless --db), runs CMD with QUERYSIGHT_URL pointing at
 * it, reads every unit back over the server's own API once CMD has exited (the agent flushes at exit and the server
 * answers 202 only after commit, so by then everything is stored), checks, reports and closes the server. `check`
 * analyses recorded NDJSON batches (QUERYSIGHT_OUTPUT) the same way.
 *
 * Exit code: CMD's own when it failed; 1 when a budget or the baseline is broken; 2 for a usage, budget-file or
 * baseline-file error; 0 otherwise.
 * @module
 */
import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { constants } from 'node:os'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { analyseUnit, type AnalysisOptions } from '../analysis/analyse-unit.js'
import { ANALYSIS_FLAGS, ANALYSIS_USAGE, analysisOptionsOf } from '../analysis-flags.js'
import { UsageError } from '../errors.js'
import type { Schema, Unit, UnitSummary, UnitsPage } from '../protocol.js'
import { parseIngestPayload } from '../protocol.js'
import { startServer } from '../server.js'
import type { Baseline } from './baseline.js'
import { BaselineFileError, baselineOf, compareStrings, formatBaseline, parseBaselineText } from './baseline.js'
import type { Budget } from './budget.js'
import { BUDGET_FILE_NAME, BudgetFileError, emptyBudget, parseBudgetText } from './budget.js'
import type { CheckResult } from './check.js'
import { checkUnits } from './check.js'
import { jsonReport } from './report-json.js'
import { junitReport } from './report-junit.js'
import { markdownReport } from './report-markdown.js'
import { textReport } from './report-text.js'

export const BASELINE_FILE_NAME = 'querysight.baseline.json'
export const FORMATS = ['text', 'json', 'markdown'] as const
export type Format = (typeof FORMATS)[number]

export const CI_USAGE =
  `querysight ci [--budget FILE] [--baseline FILE] [--update-baseline] [--junit FILE] [--json FILE] [--markdown FILE] [--format text|json|markdown] [--db PATH] ${ANALYSIS_USAGE} -- CMD...`
export const CI_SUMMARY = 'run CMD (e.g. pytest) against an ephemeral server, then fail on N+1s, query budgets and baseline regressions'
export const CHECK_USAGE =
  `querysight check FILE.ndjson... [--budget FILE] [--baseline FILE] [--update-baseline] [--junit FILE] [--json FILE] [--markdown FILE] [--format text|json|markdown] ${ANALYSIS_USAGE}`
export const CHECK_SUMMARY = 'check NDJSON batches recorded with QUERYSIGHT_OUTPUT the way ci does'

/** A line of an NDJSON file that is not an ingest payload. */
export class NdjsonError extends Error {
  override name = 'NdjsonError'
}

/** A report or baseline file that cannot be written where it was asked for. */
export class OutputFileError extends Error {
  override name = 'OutputFileError'
}

export interface CiFlags {
  budget: string | null
  baseline: string | null
  updateBaseline: boolean
  junit: string | null
  json: string | null
  markdown: string | null
  format: Format
  db: string | null
  /** The thresholds of --min-repeats, --slow-ms, --n-plus-one-error-repeats and --n-plus-one-error-ms. */
  analysis: AnalysisOptions
}

export interface RunIo {
  cwd?: string
  env?: NodeJS.ProcessEnv
  stdout?: (text: string) => void
  stderr?: (text: string) => void
}

const OPTIONS = {
  budget: { type: 'string' },
  baseline: { type: 'string' },
  'update-baseline': { type: 'boolean', default: false },
  junit: { type: 'string' },
  json: { type: 'string' },
  markdown: { type: 'string' },
  format: { type: 'string', default: 'text' },
  db: { type: 'string' },
  ...ANALYSIS_FLAGS,
} as const

/** Splits `[flags] -- CMD...` (ci) or `FILE... [flags]` (check) and validates the flags. */
export function parseCiArgs(command: 'ci' | 'check', args: string[]): { flags: CiFlags; rest: string[] } {
  const dashes = args.indexOf('--')
  const own = command === 'ci' && dashes !== -1 ? args.slice(0, dashes) : args
  let parsed
  try {
    parsed = parseArgs({ args: own, options: OPTIONS, allowPositionals: command === 'check', strict: true })
  } catch (err) {
    const hint = command === 'ci' ? '; put the command to run after --, as in: querysight ci -- pytest' : ''
    throw new UsageError(`${(err as Error).message.split('\n')[0]}${hint}; see querysight ${command} --help`)
  }
  const { values, positionals } = parsed
  if (!FORMATS.includes(values.format as Format)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(values.format)}`)
  }
  if (command === 'check' && values.db !== undefined) throw new UsageError('--db is for querysight ci; check reads NDJSON files')
  const rest = command === 'ci' ? (dashes === -1 ? [] : args.slice(dashes + 1)) : positionals
  if (command === 'ci' && rest.length === 0) throw new UsageError('give the command to run after --, as in: querysight ci -- pytest')
  if (command === 'check' && rest.length === 0) {
    throw new UsageError('give the NDJSON files to check, as in: querysight check querysight.ndjson (record them with QUERYSIGHT_OUTPUT=querysight.ndjson pytest)')
  }
  return {
    flags: {
      budget: values.budget ?? null,
      baseline: values.baseline ?? null,
      updateBaseline: values['update-baseline'] ?? false,
      junit: values.junit ?? null,
      json: values.json ?? null,
      markdown: values.markdown ?? null,
      format: values.format as Format,
      db: values.db ?? null,
      analysis: analysisOptionsOf(values),
    },
    rest,
  }
}

/** `querysight ci`: resolves to the exit code. */
export async function runCi(args: string[], io: RunIo = {}): Promise<number> {
  const { cwd = process.cwd(), env = process.env, stderr = (t: string) => process.stderr.write(t) } = io
  return withFileErrors(stderr, async () => {
    const { flags, rest } = parseCiArgs('ci', args)
    const inputs = loadInputs(flags, cwd)
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      db: flags.db ? resolve(cwd, flags.db) : ':memory:',
      ui: false,
      quiet: true,
      maxUnits: 100_000_000,
      analysisOptions: flags.analysis,
    })
    try {
      const before = flags.db ? new Set((await listUnits(server.url)).map((u) => u.id)) : new Set<string>()
      const childEnv: NodeJS.ProcessEnv = { ...env, QUERYSIGHT_URL: server.url }
      delete childEnv.QUERYSIGHT_OUTPUT // the units must reach this server, not a file
      // A report meant for a program (JSON, a Markdown file) is all of stdout: the command's own output goes to stderr.
      const ended = await runChild(rest, { cwd, env: childEnv, stderr, outputToStderr: flags.format !== 'text' })
      const units = await readUnits(server.url, before)
      // QUERYSIGHT_ENABLED=0 left in the environment turns the agent off: the likeliest reason when nothing came.
      const agentOff = /^(0|false|no|off)$/i.test((childEnv.QUERYSIGHT_ENABLED ?? '').trim())
      return finish(units, flags, inputs, { ...ended, agentOff }, { ...io, cwd, stderr })
    } finally {
      await server.close()
    }
  })
}

/** `querysight check FILE.ndjson...`: resolves to the exit code. */
export async function runCheck(args: string[], io: RunIo = {}): Promise<number> {
  const { cwd = process.cwd(), stderr = (t: string) => process.stderr.write(t) } = io
  return withFileErrors(stderr, async () => {
    const { flags, rest } = parseCiArgs('check', args)
    const inputs = loadInputs(flags, cwd)
    const schemas = new Map<string, Schema>()
    const units = rest.flatMap((file) => readNdjson(resolve(cwd, file), file, schemas, flags.analysis))
    return finish(dedupe(units), flags, inputs, null, { ...io, cwd, stderr }, rest)
  })
}

async function withFileErrors(stderr: (text: string) => void, run: () => Promise<number>): Promise<number> {
  try {
    const code = await run()
    // The caller may exit the process at once: let a slow pipe take the whole report first.
    await new Promise<void>((done) => process.stdout.write('', () => done()))
    return code
  } catch (err) {
    if (err instanceof BudgetFileError || err instanceof BaselineFileError || err instanceof NdjsonError || err instanceof OutputFileError) {
      stderr(`querysight: ${err.name}: ${err.message}\n`)
      return 2
    }
    throw err
  }
}

interface Inputs {
  budget: Budget
  baseline: Baseline | null
  baselinePath: string | null
  baselineShown: string | null
}

/** Reads the budget and the baseline before anything runs, so a broken file fails at once. */
export function loadInputs(flags: CiFlags, cwd: string): Inputs {
  let budget = emptyBudget()
  const budgetPath = flags.budget ? resolve(cwd, flags.budget) : existsSync(resolve(cwd, BUDGET_FILE_NAME)) ? resolve(cwd, BUDGET_FILE_NAME) : null
  if (budgetPath) {
    const shown = flags.budget ?? BUDGET_FILE_NAME
    budget = parseBudgetText(readText(budgetPath, shown, (m) => new BudgetFileError(m)), shown)
  }
  const explicit = flags.baseline !== null
  const baselineShown = flags.baseline ?? BASELINE_FILE_NAME
  const baselinePath = resolve(cwd, baselineShown)
  let baseline: Baseline | null = null
  if (!flags.updateBaseline) {
    if (existsSync(baselinePath)) {
      baseline = parseBaselineText(readText(baselinePath, baselineShown, (m) => new BaselineFileError(m)), baselineShown)
    } else if (explicit) {
      throw new BaselineFileError(`there is no baseline at ${baselineShown}; record one with --update-baseline --baseline ${baselineShown}`)
    }
  }
  const used = flags.updateBaseline || baseline !== null
  return { budget, baseline, baselinePath: used ? baselinePath : null, baselineShown: used ? baselineShown : null }
}

function readText(path: string, shown: string, error: (message: string) => Error): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw error(`cannot read ${shown} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the path of an existing file`)
  }
}

/** Checks, writes every report asked for, updates the baseline, and picks the exit code (the command's when it failed;
 * `command` is null for `check`, which runs none). */
function finish(
  units: Unit[],
  flags: CiFlags,
  inputs: Inputs,
  command: ChildEnd | null,
  io: RunIo & { cwd: string; stderr: (text: string) => void },
  files: string[] = [],
): number {
  const stdout = io.stdout ?? ((t: string) => process.stdout.write(t))
  const commandExit = command?.code ?? null
  const result: CheckResult = checkUnits(units, {
    budget: inputs.budget,
    baseline: inputs.baseline,
    baselineFile: inputs.baselineShown,
    commandExit,
    commandSignal: command?.signal ?? null,
    agentOff: command?.agentOff ?? false,
    files,
  })
  const reports = { text: () => textReport(result), json: () => jsonReport(result), markdown: () => markdownReport(result) }
  stdout(reports[flags.format]())
  const write = (file: string, text: string, append = false) => writeOutput(resolve(io.cwd, file), file, text, append)
  if (flags.junit) write(flags.junit, junitReport(result))
  if (flags.json) write(flags.json, jsonReport(result))
  // Appended, so it can be $GITHUB_STEP_SUMMARY, which other steps' tools may also write to.
  if (flags.markdown) write(flags.markdown, markdownReport(result), true)
  if (flags.updateBaseline && inputs.baselinePath) {
    if (commandExit) {
      io.stderr(`querysight: not updating ${inputs.baselineShown}: the command failed (exit ${commandExit}); fix it and run again\n`)
    } else if (units.length === 0) {
      io.stderr(`querysight: not updating ${inputs.baselineShown}: no units were recorded\n`)
    } else {
      const baseline = baselineOf(units)
      const dropped = droppedUnits(inputs.baselinePath, baseline)
      writeOutput(inputs.baselinePath, inputs.baselineShown ?? inputs.baselinePath, formatBaseline(baseline))
      const recorded = Object.keys(baseline.units).length
      io.stderr(`querysight: wrote ${inputs.baselineShown} (${recorded} ${recorded === 1 ? 'unit' : 'units'}); commit it\n`)
      if (dropped.length > 0) {
        const shown = dropped.slice(0, 5).join(', ') + (dropped.length > 5 ? `, and ${dropped.length - 5} more` : '')
        io.stderr(
          `querysight: ${dropped.length} ${dropped.length === 1 ? 'unit' : 'units'} of the baseline it replaced did not run and ${dropped.length === 1 ? 'is' : 'are'} no longer in it: ${shown}; after a part of the suite (-k, --lf), run the whole suite with --update-baseline to keep them\n`,
        )
      }
    }
  }
  if (commandExit) return commandExit
  return result.passed ? 0 : 1
}

/** The units of the baseline file at `path` (when there is one it can read) that `baseline` has not got. */
function droppedUnits(path: string, baseline: Baseline): string[] {
  if (!existsSync(path)) return []
  try {
    const before = parseBaselineText(readFileSync(path, 'utf8'), path)
    return Object.keys(before.units).filter((name) => !(name in baseline.units)).sort(compareStrings)
  } catch {
    return [] // a file it cannot read is replaced as it is: there is nothing in it to lose
  }
}

/** Writes (or appends to) a report or the baseline, making the folders it needs; a file that cannot be written is an
 * OutputFileError (exit 2) that names it, not a stack trace. */
function writeOutput(path: string, shown: string, text: string, append = false): void {
  try {
    makeFolder(dirname(path))
    if (append) appendFileSync(path, text)
    else writeFileSync(path, text)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new OutputFileError(`cannot write ${shown} (${code}); give a path in a folder that exists or can be made`)
  }
}

/** `mkdir -p`, a folder at a time: Node's own recursive mkdirSync never returns for a path under /proc. */
function makeFolder(dir: string): void {
  if (existsSync(dir)) return
  const parent = dirname(dir)
  if (parent !== dir) makeFolder(parent)
  mkdirSync(dir)
}

// ---------------------------------------------------------------------------------------------------------------
// ci: the child and the server
// ---------------------------------------------------------------------------------------------------------------

// SIGTERM and SIGHUP (a CI runner cancelling the job, a closed session) are passed on to the command. SIGINT is not:
// Ctrl-C signals the terminal's whole foreground process group, the command included, and a second one would cut
// short the command's own handling of the first (pytest's teardown); ci only waits for the command to end.
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP']
const WAITED_SIGNALS: NodeJS.Signals[] = ['SIGINT']

/** How the command ended: its exit code (128 + the signal's number when a signal ended it, as a shell reports it). */
interface ChildEnd {
  code: number
  signal: NodeJS.Signals | null
  /** The command ran with QUERYSIGHT_ENABLED off. */
  agentOff?: boolean
}

/** Runs CMD with stdio passed through (its stdout to our stderr with `outputToStderr`) and our signals forwarded;
 * resolves to how it ended. */
function runChild(
  command: string[],
  { cwd, env, stderr, outputToStderr }: { cwd: string; env: NodeJS.ProcessEnv; stderr: (text: string) => void; outputToStderr: boolean },
): Promise<ChildEnd> {
  return new Promise((done) => {
    const child = spawn(command[0], command.slice(1), { cwd, env, stdio: ['inherit', outputToStderr ? 2 : 'inherit', 'inherit'] })
    const forward = (signal: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    }
    const wait = () => {}
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward)
    for (const signal of WAITED_SIGNALS) process.on(signal, wait)
    const settle = (code: number, signal: NodeJS.Signals | null = null) => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward)
      for (const signal of WAITED_SIGNALS) process.off(signal, wait)
      done({ code, signal })
    }
    child.once('error', (err: NodeJS.ErrnoException) => {
      stderr(`querysight: cannot run ${JSON.stringify(command[0])} (${err.code ?? err.message}); check the command after --\n`)
      settle(err.code === 'ENOENT' ? 127 : 126)
    })
    child.once('exit', (code, signal) => settle(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0), signal))
  })
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url)
  const body = (await response.json()) as T & { error?: { code: string; message: string } }
  if (!response.ok) throw new Error(`the ci server answered ${response.status} to ${url}: ${body.error?.message ?? ''}`)
  return body
}

async function listUnits(base: string): Promise<UnitSummary[]> {
  const all: UnitSummary[] = []
  let next: string | null = null
  do {
    const query: string = next ? `&before=${encodeURIComponent(next)}` : ''
    const page: UnitsPage = await getJson<UnitsPage>(`${base}/api/v1/units?limit=500${query}`)
    all.push(...page.units)
    next = page.next
  } while (next)
  return all
}

/** Every unit stored since `before` was taken, read in full, a few at a time. */
async function readUnits(base: string, before: Set<string>): Promise<Unit[]> {
  const ids = (await listUnits(base)).map((u) => u.id).filter((id) => !before.has(id))
  const units: Unit[] = new Array(ids.length)
  let cursor = 0
  const worker = async () => {
    while (cursor < ids.length) {
      const index = cursor++
      units[index] = (await getJson<{ unit: Unit }>(`${base}/api/v1/units/${encodeURIComponent(ids[index])}`)).unit
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker))
  return units
}

// ---------------------------------------------------------------------------------------------------------------
// check: NDJSON batches
// ---------------------------------------------------------------------------------------------------------------

/** Each non-empty line one ingest payload (DESIGN.md §4), analysed as the server would on ingest. */
export function parseNdjson(text: string, shown: string, schemas = new Map<string, Schema>(), options: AnalysisOptions = {}): Unit[] {
  const units: Unit[] = []
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return
    const where = `${shown}:${index + 1}`
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch (err) {
      throw new NdjsonError(`${where} is not JSON (${(err as Error).message}); each line must be one ingest payload as written by QUERYSIGHT_OUTPUT`)
    }
    let payload
    try {
      payload = parseIngestPayload(json)
    } catch (err) {
      throw new NdjsonError(`${where} is not an ingest payload: ${(err as Error).message}`)
    }
    if (payload.schema) schemas.set(payload.app.name, payload.schema)
    const schema = payload.schema ?? schemas.get(payload.app.name) ?? null
    for (const unit of payload.units) units.push(analyseUnit(unit, { app: payload.app, schema, options }))
  })
  return units
}

/** The app's latest schema is carried from one file to the next, as the server keeps it from batch to batch. */
function readNdjson(path: string, shown: string, schemas: Map<string, Schema>, options: AnalysisOptions): Unit[] {
  return parseNdjson(readText(path, shown, (m) => new NdjsonError(m)), shown, schemas, options)
}

/** A unit sent twice is one unit, as on ingest. */
function dedupe(units: Unit[]): Unit[] {
  const seen = new Set<string>()
  return units.filter((unit) => !seen.has(unit.id) && (seen.add(unit.id), true))
}
