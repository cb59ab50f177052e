/**
 * `--format markdown` / `--markdown FILE`: a CI job summary (GitHub's $GITHUB_STEP_SUMMARY renders it): the verdict,
 * a table of the units that failed or warned, then each violation with its SQL and fix.
 * @module
 */
import type { CheckResult, Note, Violation } from './check.js'
import { findingDetails, verdict, violationTitle } from './report-common.js'

const ICONS = { fail: '❌', warn: '⚠️', pass: '✅' } as const

export interface MarkdownReportOptions {
  /** Passing units are listed in the table only while the table stays this short. */
  maxPassingRows?: number
}

export function markdownReport(result: CheckResult, { maxPassingRows = 20 }: MarkdownReportOptions = {}): string {
  const out: string[] = []
  out.push(`### ${result.passed ? ICONS.pass : ICONS.fail} querysight ${escapeText(verdict(result))}`, '')
  const sources = [result.budget ? `budget ${code(result.budget)}` : 'built-in budget (N+1 fails, the rest warns)']
  if (result.baseline) sources.push(`baseline ${code(result.baseline)}`)
  out.push(sources.join(' · '), '')

  const order = { fail: 0, warn: 1, pass: 2 } as const
  const sorted = [...result.units].sort((a, b) => order[a.outcome] - order[b.outcome])
  const shown = sorted.length <= maxPassingRows ? sorted : sorted.filter((u) => u.outcome !== 'pass')
  if (shown.length) {
    out.push('| | unit | queries | limit | N+1 | duplicates |', '|---|---|---:|---:|---:|---:|')
    for (const u of shown) {
      const name = u.runs > 1 ? `${code(u.name)} ×${u.runs}` : code(u.name)
      out.push(`| ${ICONS[u.outcome]} | ${cell(name)} | ${u.queries} | ${u.max_queries ?? '–'} | ${u.findings.n_plus_one} | ${u.findings.duplicate} |`)
    }
    out.push('')
  }
  const hidden = sorted.length - shown.length
  if (hidden) out.push(`${hidden} more unit${hidden === 1 ? '' : 's'} passed.`, '')

  if (result.violations.length) {
    out.push('#### Violations', '')
    for (const violation of result.violations) out.push(...violationBlock(violation), '')
  }
  const warnings = result.notes.filter((n) => n.kind === 'warning')
  if (warnings.length) {
    out.push('#### Warnings', '')
    for (const note of warnings) out.push(...noteBlock(note), '')
  }
  const notes = result.notes.filter((n) => n.kind !== 'warning')
  if (notes.length) {
    out.push('#### Notes', '')
    for (const note of notes) out.push(...noteBlock(note))
    out.push('')
  }
  return `${out.join('\n').trimEnd()}\n`
}

function violationBlock(violation: Violation): string[] {
  const unit = violation.unit ? `${code(violation.unit)}: ` : ''
  if (violation.finding) return [`- ${ICONS.fail} ${unit}**${violationTitle(violation)}**`, ...findingBlock(violation.finding)]
  const lines = [`- ${ICONS.fail} ${unit}**${violationTitle(violation)}**: ${escapeText(violation.message)}`]
  if (violation.top_queries?.length) lines.push('  most run:', ...fence(violation.top_queries.join('\n'), 'text'))
  if (violation.diff?.length) lines.push(...fence(violation.diff.join('\n'), 'diff'))
  return lines
}

function noteBlock(note: Note): string[] {
  const unit = note.unit ? `${code(note.unit)}: ` : ''
  const icon = note.kind === 'warning' ? `${ICONS.warn} ` : ''
  const lines = note.finding ? [`- ${icon}${note.kind} ${unit}`.trimEnd(), ...findingBlock(note.finding)] : [`- ${icon}${note.kind}: ${unit}${escapeText(note.message)}`]
  if (note.reason) lines.push(`  reason: ${escapeText(note.reason)}`)
  if (note.diff?.length) lines.push(...fence(note.diff.join('\n'), 'diff'))
  return lines
}

function findingBlock(finding: Parameters<typeof findingDetails>[0]): string[] {
  const details = findingDetails(finding)
  const lines = [`  ${escapeText(details.summary)}${details.where ? ` at ${code(details.where)}` : ''}`]
  lines.push(...fence(details.sql, 'sql'))
  if (details.fix) lines.push(`  **Fix:** ${escapeText(details.fix)}`)
  if (details.code) lines.push(...fence(details.code, 'python'))
  lines.push(`  fingerprint ${code(details.fingerprint)}`)
  return lines
}

/** A fenced block indented under a list item, with a fence longer than any run of backticks inside. */
function fence(text: string, lang: string): string[] {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length))
  const marker = '`'.repeat(longest + 1)
  return [`  ${marker}${lang}`, ...text.split('\n').map((line) => `  ${line}`), `  ${marker}`]
}

/** Inline code that survives any backticks in the text. */
export function code(text: string): string {
  const flat = text.replace(/\n/g, ' ')
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length))
  const ticks = '`'.repeat(longest + 1)
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : ''
  return `${ticks}${pad}${flat}${pad}${ticks}`
}

/** Table cells cannot hold a raw `|`. */
const cell = (text: string) => text.replace(/\|/g, '\\|')

/** Plain text with Markdown and HTML significant characters escaped. */
export function escapeText(text: string): string {
  return text.replace(/[\\`*_{}[\]<>#|!]/g, '\\$&').replace(/\n/g, ' ')
}
