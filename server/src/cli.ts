/** The `querysight` command: argv only; the work is in the modules it calls. @module */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ANALYSIS_FLAGS, ANALYSIS_USAGE, analysisOptionsOf } from './analysis-flags.js'
import { CHECK_SUMMARY, CHECK_USAGE, CI_SUMMARY, CI_USAGE, runCheck, runCi } from './ci/run-ci.js'
import { UsageError } from './errors.js'
import { isLoopbackHost } from './security.js'
import { defaultDbPath, startServer } from './server.js'
import { VERSION } from './version.js'

/** A subcommand: parses its own arguments, resolves to an exit code, or to null while it keeps the process running. */
interface Command {
  usage: string
  summary: string
  run: (args: string[]) => Promise<number | null>
}

const SERVE_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8321' },
  db: { type: 'string' },
  token: { type: 'string' },
  'max-units': { type: 'string', default: '10000' },
  ...ANALYSIS_FLAGS,
} satisfies ParseArgsConfig['options']

/** Parses `args` against `options`; unknown flags and stray arguments become a UsageError naming `command`. */
function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true })
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}; see querysight ${command} --help`)
  }
}

function integerFlag(name: string, value: string, min: number, max: number): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < min || number > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  return number
}

const serve: Command = {
  usage: `querysight serve [--host 127.0.0.1] [--port 8321] [--db PATH|:memory:] [--token T] [--max-units 10000] ${ANALYSIS_USAGE}`,
  summary: 'start the server and the UI (the default command)',
  async run(args) {
    const { values } = parseFlags('serve', args, SERVE_OPTIONS)
    const token = values.token ?? (process.env.QUERYSIGHT_TOKEN || null)
    if (!isLoopbackHost(values.host) && !token) {
      process.stderr.write(`querysight: warning: --host ${values.host} without --token lets anyone who reaches this port read your SQL; add --token <secret>\n`)
    }
    const maxUnits = integerFlag('max-units', values['max-units'], 1, 100_000_000)
    const server = await startServer({
      host: values.host,
      port: integerFlag('port', values.port, 0, 65535),
      db: values.db,
      token,
      maxUnits,
      analysisOptions: analysisOptionsOf(values),
    })
    const stop = () => {
      process.once('SIGINT', () => process.exit(130))
      process.once('SIGTERM', () => process.exit(143))
      server.close().then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`querysight: error while closing: ${err.message}\n`)
          process.exit(1)
        },
      )
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    // Where the history is kept, on stderr: stdout's one line is what scripts read.
    const db = values.db ?? defaultDbPath()
    process.stderr.write(
      db === ':memory:' ? 'querysight: units kept in memory, until it stops\n' : `querysight: units kept in ${db} (the last ${maxUnits.toLocaleString('en-US')})\n`,
    )
    // Printed last: whoever reads this line may signal the process at once.
    process.stdout.write(`querysight ${VERSION} listening on ${server.url}\n`)
    return null
  },
}

/** The CI gate (server/src/ci/run-ci.ts): `ci -- CMD...` and `check FILE.ndjson...`. */
const ci: Command = { usage: CI_USAGE, summary: CI_SUMMARY, run: (args) => runCi(args) }
const check: Command = { usage: CHECK_USAGE, summary: CHECK_SUMMARY, run: (args) => runCheck(args) }

/** Subcommands by name; the first is the default when argv starts with a flag or is empty. */
const COMMANDS: Record<string, Command> = { serve, ci, check }

const help = () =>
  `querysight ${VERSION}: find the database work a Python web app should not be doing

Usage:
${Object.values(COMMANDS)
  .map((command) => `  ${command.usage}\n      ${command.summary}`)
  .join('\n')}
  querysight --version      print the version
  querysight --help         print this help

Environment: QUERYSIGHT_TOKEN sets --token.
`

async function main(argv: string[]): Promise<number | null> {
  const [first, ...rest] = argv
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(help())
    return 0
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const named = first !== undefined && !first.startsWith('-')
  const command = named ? COMMANDS[first] : serve
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(first)}; commands: ${Object.keys(COMMANDS).join(', ')} (see querysight --help)`)
  const args = named ? rest : argv
  const own = args.includes('--') ? args.slice(0, args.indexOf('--')) : args
  if (own.includes('--help') || own.includes('-h')) {
    process.stdout.write(`Usage: ${command.usage}\n  ${command.summary}\n`)
    return 0
  }
  return command.run(args)
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exit(code)
  },
  (err: Error) => {
    process.stderr.write(`querysight: ${err.message}\n`)
    process.exit(err instanceof UsageError ? 2 : 1)
  },
)
