/**
 * The default report, for a terminal or a CI log: the verdict, a table of units, then each violation with its SQL,
 * call site and fix, then warnings and notes.
 * @module
 */
import type { CheckResult, UnitResult } from './check.js'
import { noteLines, OUTCOME_LABELS, verdict, violationLines, violationTitle } from './report-common.js'

export interface TextReportOptions {
  /** Passing units are listed in the table only while the table stays this short. */
  maxPassingRows?: number
}

const NOTE_LABELS = {
  warning: 'warning',
  allowed: 'allowed',
  improved: 'improved',
  changed: 'changed',
  new: 'new',
  missing: 'missing',
  unused_allow: 'unused allow',
  unused_units_key: 'unused budget key',
} as const

export function textReport(result: CheckResult, { maxPassingRows = 40 }: TextReportOptions = {}): string {
  const out: string[] = []
  out.push(`querysight ${verdict(result)}`)
  const sources = [result.budget ? `budget ${result.budget}` : 'built-in budget (N+1 fails, the rest warns)']
  if (result.baseline) sources.push(`baseline ${result.baseline}`)
  out.push(sources.join(' · '), '')

  if (result.units.length) {
    out.push(...unitTable(result.units, maxPassingRows), '')
  }

  if (result.violations.length) {
    out.push('Violations', '')
    for (const violation of result.violations) {
      const unit = violation.unit ? `${violation.unit}: ` : ''
      out.push(`✗ ${unit}${violationTitle(violation)}`)
      out.push(...indent(violationLines(violation)), '')
    }
  }

  const warnings = result.notes.filter((note) => note.kind === 'warning')
  if (warnings.length) {
    out.push('Warnings', '')
    for (const note of warnings) {
      out.push(`! ${note.unit}`)
      out.push(...indent(noteLines(note)), '')
    }
  }

  const notes = result.notes.filter((note) => note.kind !== 'warning')
  if (notes.length) {
    out.push('Notes', '')
    for (const note of notes) {
      const lines = noteLines(note)
      const label = `- ${NOTE_LABELS[note.kind]}: `
      if (note.finding) out.push(`${label}${note.unit}`, ...indent(lines))
      else out.push(`${label}${note.unit ? `${note.unit}: ` : ''}${lines[0]}`, ...indent(lines.slice(1)))
    }
    out.push('')
  }

  if (result.violations.some((v) => v.kind === 'baseline')) {
    out.push('If the new queries are intended, record them: run again with --update-baseline and commit the baseline file.', '')
  }
  out.push(`querysight ${verdict(result)}`)
  return `${out.join('\n')}\n`
}

function unitTable(units: UnitResult[], maxPassingRows: number): string[] {
  const order = { fail: 0, warn: 1, pass: 2 } as const
  const sorted = [...units].sort((a, b) => order[a.outcome] - order[b.outcome])
  const notPassing = sorted.filter((u) => u.outcome !== 'pass')
  const shown = sorted.length <= maxPassingRows ? sorted : notPassing
  const hidden = sorted.length - shown.length
  const rows = [
    ['result', 'queries', 'limit', 'N+1', 'dup', 'unit'],
    ...shown.map((u) => [
      OUTCOME_LABELS[u.outcome],
      String(u.queries),
      u.max_queries === null ? '-' : String(u.max_queries),
      String(u.findings.n_plus_one),
      String(u.findings.duplicate),
      u.runs > 1 ? `${u.name} (×${u.runs})` : u.name,
    ]),
  ]
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)))
  const lines = rows.map((row) =>
    row
      .map((cell, col) => (col === 0 ? cell.padEnd(widths[col]) : col === row.length - 1 ? cell : cell.padStart(widths[col])))
      .join('  ')
      .trimEnd(),
  )
  if (hidden) lines.push(`… and ${hidden} passing unit${hidden === 1 ? '' : 's'}`)
  return lines.map((line) => `  ${line}`)
}

const indent = (lines: string[]) => lines.map((line) => `    ${line}`)
