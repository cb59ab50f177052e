/**
 * One fix for the N+1s of one loop: Django N+1 findings over the same rows (the same trigger query, or, for a loop
 * nested in another's rows such as each review's customer's profile, the trigger of the loop it is in) whose fixes are
 * one call on one queryset with other relations (`select_related("author")`, `select_related("publisher")`; or
 * `select_related("customer")` inside a Prefetch and `select_related("customer__profile")` in the same one) get the
 * call with every relation, `select_related("author", "publisher")`. Pasted one by one, the separate fixes would each
 * replace the other's relation, and two Prefetch objects of one lookup with different querysets make Django raise
 * ("lookup was already seen with a different queryset").
 * @module
 */
import type { Finding } from '../protocol.js'
import { groupBy } from './detect-context.js'

/** `<prefix>.select_related("a", "b")<closing parens>`: the call of a fix whose arguments are relation paths only. */
const LAST_CALL = /^([\s\S]*)\.(select_related|prefetch_related)\(((?:"[\w]+", )*"[\w]+")\)(\)*)$/

interface Call {
  /** Everything but the paths: the same for fixes that can be one call. */
  key: string
  head: string
  method: string
  paths: string[]
  tail: string
}

function callOf(code: string | null): Call | null {
  const match = code === null ? null : LAST_CALL.exec(code)
  if (!match) return null
  const [, head, method, args, tail] = match
  return { key: `${head}\0${method}\0${tail}`, head, method, paths: args.split(', ').map((arg) => arg.slice(1, -1)), tail }
}

/** For each N+1 finding, the query that produced the rows its loop runs over: its trigger, or, when the trigger is
 * one of another N+1's queries (the customer of each review, whose profile is read next), that loop's rows. */
function rootTriggers(findings: Finding[]): (index: number) => number | null {
  const loopOf = new Map<number, number>() // query index -> the N+1 finding it is a query of
  findings.forEach((finding, i) => {
    if (finding.kind === 'n_plus_one') for (const query of finding.query_indexes) loopOf.set(query, i)
  })
  const root = (i: number, depth = 0): number | null => {
    const trigger = findings[i].trigger_index
    const outer = trigger === null ? undefined : loopOf.get(trigger)
    return outer === undefined || outer === i || depth > findings.length ? trigger : root(outer, depth + 1)
  }
  return root
}

/** The paths of both, without one that a longer one loads anyway (`customer` beside `customer__profile`). */
function unionOf(paths: string[]): string[] {
  const all = [...new Set(paths)]
  return all.filter((path) => !all.some((other) => other !== path && other.startsWith(`${path}__`)))
}

export function mergeFixes(findings: Finding[]): Finding[] {
  const calls = findings.map((finding) => (finding.kind === 'n_plus_one' && finding.trigger_index !== null ? callOf(finding.suggestion.code) : null))
  const rowsOf = rootTriggers(findings)
  const withCall = findings.flatMap((_, i) => (calls[i] ? [i] : []))
  const groups = groupBy(withCall, (i) => `${rowsOf(i)}\0${calls[i]!.key}`)
  const merged = [...findings]
  for (const members of groups.values()) {
    if (members.length < 2) continue
    const first = calls[members[0]]!
    const paths = unionOf(members.flatMap((i) => calls[i]!.paths))
    const code = `${first.head}.${first.method}(${paths.map((path) => JSON.stringify(path)).join(', ')})${first.tail}`
    for (const i of members) {
      const finding = findings[i]
      if (finding.suggestion.code === code) continue
      const others = members.length - 1
      merged[i] = {
        ...finding,
        suggestion: {
          text: `${finding.suggestion.text.replace(/\.$/, '')}. One call loads what ${others === 1 ? 'this N+1 and the other one' : `this N+1 and ${others} others`} over the same rows need: ${code}`,
          code,
        },
      }
    }
  }
  return merged
}
