/** Small tmpfs mounts for the fault tests: a disk that fills up, a file system that turns read-only. Needs root. @module */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const mounted: string[] = []

/** Why no tmpfs can be mounted here, or null when it can (probed once with a 64 KiB mount). */
export function tmpfsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root, so no tmpfs can be mounted to fill up or make read-only'
  const probe = mkdtempSync(join(tmpdir(), 'qs-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' })
    execFileSync('umount', [probe])
    return null
  } catch (err) {
    return `mount -t tmpfs is not permitted here (${String((err as Error).message).split('\n')[0]})`
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

/** Mounts a tmpfs of `size` (e.g. "1m") on a fresh directory and returns it. */
export function mountTmpfs(size: string): string {
  const mount = mkdtempSync(join(tmpdir(), 'qs-tmpfs-'))
  mkdirSync(mount, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount])
  mounted.push(mount)
  return mount
}

export const remountReadOnly = (mount: string) => execFileSync('mount', ['-o', 'remount,ro', mount])

/** Unmounts and removes every tmpfs mounted by this module (call after the processes using them stopped). */
export function unmountAll(): void {
  for (const mount of mounted.splice(0)) {
    execFileSync('umount', [mount])
    rmSync(mount, { recursive: true, force: true })
  }
}
