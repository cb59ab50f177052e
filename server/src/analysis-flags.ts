/** The analysis thresholds of DESIGN.md §6 as command-line flags, shared by `serve`, `ci` and `check`. @module */
import type { AnalysisOptions } from './analysis/analyse-unit.js'
import { UsageError } from './errors.js'

export const ANALYSIS_FLAGS = {
  'min-repeats': { type: 'string' },
  'slow-ms': { type: 'string' },
  'n-plus-one-error-repeats': { type: 'string' },
  'n-plus-one-error-ms': { type: 'string' },
} as const

export const ANALYSIS_USAGE = '[--min-repeats 2] [--slow-ms 100] [--n-plus-one-error-repeats 10] [--n-plus-one-error-ms 20]'

type AnalysisFlagValues = { [name in keyof typeof ANALYSIS_FLAGS]?: string }

function numberFlag(name: string, value: string, { min, integer }: { min: number; integer: boolean }): number {
  const number = Number(value)
  if (value.trim() === '' || !Number.isFinite(number) || number < min || (integer && !Number.isInteger(number))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} of at least ${min}, got ${JSON.stringify(value)}`)
  }
  return number
}

/** The AnalysisOptions the flags set; a flag not given keeps the analysis default. */
export function analysisOptionsOf(values: AnalysisFlagValues): AnalysisOptions {
  const options: AnalysisOptions = {}
  if (values['min-repeats'] !== undefined) options.minRepeats = numberFlag('min-repeats', values['min-repeats'], { min: 2, integer: true })
  if (values['slow-ms'] !== undefined) options.slowMs = numberFlag('slow-ms', values['slow-ms'], { min: 0, integer: false })
  if (values['n-plus-one-error-repeats'] !== undefined) {
    options.nPlusOneErrorRepeats = numberFlag('n-plus-one-error-repeats', values['n-plus-one-error-repeats'], { min: 2, integer: true })
  }
  if (values['n-plus-one-error-ms'] !== undefined) {
    options.nPlusOneErrorWastedMs = numberFlag('n-plus-one-error-ms', values['n-plus-one-error-ms'], { min: 0, integer: false })
  }
  return options
}
