/** The `querysight` command: argv only; the work is in the modules it calls. @module */
import { parseArgs } from 'node:util'
import { startServer } from './server.js'
import { VERSION } from './version.js'

const HELP = `querysight ${VERSION}: find the database work a Python web app should not be doing

Usage:
  querysight serve [--host 127.0.0.1] [--port 8321]   start the server and the UI (default command)
  querysight --version                                  print the version
  querysight --help                                     print this help
`

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP)
    return 0
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const args = argv[0] === 'serve' ? argv.slice(1) : argv
  const { values } = parseArgs({ args, options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '8321' } } })
  const server = await startServer({ host: values.host, port: Number(values.port) })
  process.stdout.write(`querysight ${VERSION} listening on ${server.url}\n`)
  const stop = () => void server.close().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return -1
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (err: Error) => {
    process.stderr.write(`querysight: ${err.message}\n`)
    process.exit(2)
  },
)
