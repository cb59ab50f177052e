/**
 * Real processes for the load, fault, fuzz and security tests: the built `querysight serve` (dist/cli.js) and the
 * project's Python with the agent. Every process started here is tracked, so a test's afterEach can stop them all.
 * @module
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const HERE = fileURLToPath(new URL('../../', import.meta.url))
/** The repository: two levels above this file, or the working directory when bundled elsewhere (benchmarks run from the root). */
export const ROOT = existsSync(`${HERE}test/load/processes.ts`) ? HERE : `${process.cwd()}/`
export const CLI = `${ROOT}dist/cli.js`
export const PYTHON = `${ROOT}.venv/bin/python`

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Child {
  child: ChildProcessWithoutNullStreams
  pid: number
  /** Resolves when the process has exited. */
  exited: Promise<Exit>
  stdout(): string
  stderr(): string
  /** Sends `signal` (SIGTERM by default) unless it already exited, and resolves once it has. */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

const running = new Set<Child>()

export function startProcess(command: string, args: string[], { env = {} as Record<string, string>, cwd = ROOT } = {}): Child {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const handle: Child = {
    child,
    pid: child.pid!,
    exited,
    stdout: () => out,
    stderr: () => err,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
  running.add(handle)
  void exited.then(() => running.delete(handle))
  return handle
}

/** SIGKILLs every process still running that this module started (for afterEach/afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((handle) => handle.stop('SIGKILL')))
}

export interface CliServer extends Child {
  url: string
  port: number
}

/** `node dist/cli.js serve --port 0 ...`, resolved once it printed its listening line; rejects if it exits first. */
export async function startCli(args: string[], { env = {} as Record<string, string> } = {}): Promise<CliServer> {
  const handle = startProcess('node', [CLI, 'serve', ...(args.includes('--port') ? [] : ['--port', '0']), ...args], { env })
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /listening on (http:\/\/\S+)\n/.exec(handle.stdout())
      if (match) {
        handle.child.stdout.off('data', onData)
        resolve(match[1])
      }
    }
    handle.child.stdout.on('data', onData)
    void handle.exited.then(({ code, signal }) => reject(new Error(`querysight serve exited (${code ?? signal}) before listening: ${handle.stderr()}`)))
  })
  return { ...handle, url, port: Number(new URL(url).port) }
}

/** Runs `serve` expecting it to fail at start: resolves with its exit and output. */
export async function failingCli(args: string[]): Promise<Exit & { stdout: string; stderr: string }> {
  const handle = startProcess('node', [CLI, 'serve', '--port', '0', ...args])
  const exit = await handle.exited
  return { ...exit, stdout: handle.stdout(), stderr: handle.stderr() }
}

/** A Python script run with the project's .venv (the agent is installed there), with `pythonPath` on PYTHONPATH. */
export function startPython(script: string, args: string[], { env = {} as Record<string, string>, pythonPath = [] as string[] } = {}): Child {
  return startProcess(PYTHON, [script, ...args], {
    env: { PYTHONUNBUFFERED: '1', PYTHONPATH: [...pythonPath, process.env.PYTHONPATH].filter(Boolean).join(':'), ...env },
  })
}

/** Resident memory of a live process in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1]) * 1024
}
