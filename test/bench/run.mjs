// `make bench`: runs every benchmark in test/bench/ and prints one table of their figures.
// Each *.bench.ts is bundled by esbuild and run with node; each *.bench.py runs with the project's .venv python.
// A benchmark prints readable lines and, last, `BENCH_JSON {"rows":[...]}` (see test/bench/README.md).
// With --write, the table also goes into test/bench/RESULTS.md with the machine and the date.
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..')
const benchDir = path.join(root, 'test/bench')
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const write = process.argv.includes('--write')
const files = readdirSync(benchDir)
  .filter((f) => /\.bench\.(ts|py)$/.test(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()

// Bundles go under node_modules/.cache so their bare imports (packages stay external) resolve from the project's
// node_modules: ES modules ignore NODE_PATH.
mkdirSync(path.join(root, 'node_modules/.cache'), { recursive: true })
const tmp = mkdtempSync(path.join(root, 'node_modules/.cache', 'qs-bench-'))
const rows = []
const failures = []
try {
  for (const file of files) {
    const name = file.replace(/\.bench\.(ts|py)$/, '')
    console.log(`\n=== ${name} ===`)
    let command
    if (file.endsWith('.ts')) {
      const outfile = path.join(tmp, `${name}.mjs`)
      await build({ entryPoints: [path.join(benchDir, file)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', jsx: 'automatic', jsxImportSource: 'preact', logLevel: 'warning' })
      // Bundled into tmp, so resolve bare imports from the project's node_modules.
      command = ['node', [outfile], { NODE_PATH: path.join(root, 'node_modules') }]
    } else {
      command = [path.join(root, '.venv/bin/python'), [path.join(benchDir, file)], {}]
    }
    const [bin, args, env] = command
    const run = spawnSync(bin, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 })
    const lines = (run.stdout ?? '').trimEnd().split('\n')
    const jsonLine = lines.findLast((l) => l.startsWith('BENCH_JSON '))
    console.log(lines.filter((l) => !l.startsWith('BENCH_JSON ')).join('\n'))
    if (run.status !== 0 || !jsonLine) {
      failures.push(`${name}: exit ${run.status}${jsonLine ? '' : ', no BENCH_JSON line'}`)
      continue
    }
    for (const row of JSON.parse(jsonLine.slice('BENCH_JSON '.length)).rows) rows.push({ bench: name, ...row })
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}

const fmt = (v) => (typeof v !== 'number' ? '' : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 3))
const table = [
  '| benchmark | metric | value | unit | ratio | note |',
  '|---|---|---:|---|---:|---|',
  ...rows.map((r) => `| ${r.bench} | ${r.metric} | ${fmt(r.value)} | ${r.unit ?? ''} | ${r.ratio === undefined ? '' : fmt(r.ratio)} | ${r.note ?? ''} |`),
].join('\n')
console.log(`\n${table}`)
if (failures.length) console.error(`\nbenchmarks that failed:\n  ${failures.join('\n  ')}`)

if (write) {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const machine = `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`
  const date = new Date().toISOString().slice(0, 10)
  writeFileSync(
    path.join(benchDir, 'RESULTS.md'),
    `# Benchmark results\n\nMeasured by \`make bench\` on ${date}, on ${machine}.\n` +
      `Ratios compare runs made side by side in the same process or run.\n\n${table}\n`,
  )
  console.log('\nwritten to test/bench/RESULTS.md')
}
process.exit(failures.length ? 1 : 0)
