/**
 * `--format json`: the whole check result, for scripts. Stable field names (those of check.ts), two-space indent.
 * @module
 */
import { VERSION } from '../version.js'
import type { CheckResult } from './check.js'

export interface JsonReport extends CheckResult {
  querysight: string
}

export function jsonReport(result: CheckResult): string {
  const report: JsonReport = { querysight: VERSION, ...result }
  return `${JSON.stringify(report, null, 2)}\n`
}
