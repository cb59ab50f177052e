/**
 * `--junit FILE`: JUnit XML for CI test panels. One testcase per unit name, one failure per violation, warnings and
 * notes in system-out. Every text is escaped, and characters XML 1.0 cannot hold are replaced.
 * @module
 */
import type { CheckResult, Note, Violation } from './check.js'
import { noteLines, violationHeadline, violationLines } from './report-common.js'

export function junitReport(result: CheckResult): string {
  const cases: string[] = []
  const byUnit = new Map<string | null, { violations: Violation[]; notes: Note[] }>()
  const entry = (unit: string | null) => {
    let found = byUnit.get(unit)
    if (!found) byUnit.set(unit, (found = { violations: [], notes: [] }))
    return found
  }
  for (const violation of result.violations) entry(violation.unit).violations.push(violation)
  for (const note of result.notes) entry(note.unit).notes.push(note)

  for (const unit of result.units) {
    const { violations, notes } = byUnit.get(unit.name) ?? { violations: [], notes: [] }
    const body: string[] = []
    for (const violation of violations) {
      body.push(
        `      <failure type="${attr(violation.kind)}" message="${attr(violationHeadline(violation))}">${text(violationLines(violation).join('\n'))}</failure>`,
      )
    }
    if (notes.length) body.push(`      <system-out>${text(notes.map((n) => `${n.kind}: ${noteLines(n).join('\n')}`).join('\n\n'))}</system-out>`)
    const open = `    <testcase classname="querysight.${attr(unit.kind)}" name="${attr(unit.name)}" assertions="1">`
    cases.push(body.length ? `${open}\n${body.join('\n')}\n    </testcase>` : `${open.slice(0, -1)}/>`)
  }
  const run = byUnit.get(null)
  if (run?.violations.length) {
    // First: a failed command is the first thing to read, and the units' results may be cut short by it.
    const failures = run.violations.map((v) => `      <failure type="${attr(v.kind)}" message="${attr(violationHeadline(v))}">${text(violationLines(v).join('\n'))}</failure>`)
    cases.unshift(`    <testcase classname="querysight.run" name="querysight run" assertions="1">\n${failures.join('\n')}\n    </testcase>`)
  }
  const tests = result.units.length + (run?.violations.length ? 1 : 0)
  const failures = result.units.filter((u) => u.outcome === 'fail').length + (run?.violations.length ? 1 : 0)
  const suiteOut = run?.notes.length ? [`    <system-out>${text(run.notes.map((n) => `${n.kind}: ${noteLines(n).join('\n')}`).join('\n\n'))}</system-out>`] : []
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="querysight" tests="${tests}" failures="${failures}" errors="0">`,
    `  <testsuite name="querysight" tests="${tests}" failures="${failures}" errors="0" skipped="0">`,
    ...cases,
    ...suiteOut,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}

/** Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/U+FFFF). */
const INVALID_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu

function text(value: string): string {
  return value.replace(INVALID_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function attr(value: string): string {
  return text(value).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;')
}
