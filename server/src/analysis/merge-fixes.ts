/**
 * One fix for the N+1s of one loop: Django N+1 findings over the same rows (the same trigger query, or, for a loop
 * nested in another's rows such as each review's customer's profile, the trigger of the loop it is in) whose fixes are
 * one call on one queryset with other relations (`select_related("author")`, `select_related("publisher")`; or
 * `select_related("customer")` inside a Prefetch and `select_related("customer__profile")` in the same one) get the
 * call with every relation, `select_related("author", "publisher")`. Pasted one by one, the separate fixes would each
 * replace the other's relation, and two Prefetch objects of one lookup with different querysets make Django raise
 * ("lookup was already seen with a different queryset"). On a Django admin changelist the same goes for the
 * ModelAdmin's `list_select_related = [...]` (one list of every relation) and its `get_queryset()` (one method
 * with every annotation and prefetch): a second one pasted replaces the first.
 * @module
 */
import type { Finding } from '../protocol.js'
import { groupBy } from './detect-context.js'

/** A fix's code as parts that fixes of the same `key` can pool: rendered with the parts of all of them. */
interface Mergeable {
  key: string
  parts: string[]
  render: (parts: string[]) => string
  /** How the text introduces the merged code: "One call loads what". */
  what: string
}

const quoted = (paths: string[]) => paths.map((path) => JSON.stringify(path)).join(', ')
const PATHS = '((?:"[\\w]+", )*"[\\w]+")'
const pathsOf = (args: string) => args.split(', ').map((arg) => arg.slice(1, -1))

/** `<prefix>.select_related("a", "b")<closing parens>`: the call of a fix whose arguments are relation paths only. */
const LAST_CALL = new RegExp(`^([\\s\\S]*)\\.(select_related|prefetch_related)\\(${PATHS}\\)(\\)*)$`)
/** A ModelAdmin's `list_select_related = ["a", "b"]`. */
const LIST_SELECT_RELATED = new RegExp(`^list_select_related = \\[${PATHS}\\]$`)
/** A ModelAdmin's `get_queryset()` returning its parent's queryset with calls chained on. */
const GET_QUERYSET = /^(def get_queryset\(self, request\):\n {4}return super\(\)\.get_queryset\(request\))(\..+)$/

function mergeableOf(code: string | null): Mergeable | null {
  if (code === null) return null
  // Before the plain call: a get_queryset() chaining one prefetch_related() pools with one chaining annotate().
  const method = GET_QUERYSET.exec(code)
  if (method) {
    const [, head, calls] = method
    return { key: 'get_queryset', parts: [calls], render: (parts) => `${head}${[...new Set(parts)].join('')}`, what: 'One get_queryset() does what' }
  }
  const call = LAST_CALL.exec(code)
  if (call) {
    const [, head, method, args, tail] = call
    const render = (paths: string[]) => `${head}.${method}(${quoted(unionOf(paths))})${tail}`
    return { key: `${head}\0${method}\0${tail}`, parts: pathsOf(args), render, what: 'One call loads what' }
  }
  const list = LIST_SELECT_RELATED.exec(code)
  if (list) {
    const render = (paths: string[]) => `list_select_related = [${quoted(unionOf(paths))}]`
    return { key: 'list_select_related', parts: pathsOf(list[1]), render, what: 'One list loads what' }
  }
  return null
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
  const fixes = findings.map((finding) => (finding.kind === 'n_plus_one' && finding.trigger_index !== null ? mergeableOf(finding.suggestion.code) : null))
  const rowsOf = rootTriggers(findings)
  const withFix = findings.flatMap((_, i) => (fixes[i] ? [i] : []))
  const groups = groupBy(withFix, (i) => `${rowsOf(i)}\0${fixes[i]!.key}`)
  const merged = [...findings]
  for (const members of groups.values()) {
    if (members.length < 2) continue
    const first = fixes[members[0]]!
    const code = first.render(members.flatMap((i) => fixes[i]!.parts))
    for (const i of members) {
      const finding = findings[i]
      if (finding.suggestion.code === code) continue
      const others = members.length - 1
      merged[i] = {
        ...finding,
        suggestion: {
          text: `${finding.suggestion.text.replace(/\.$/, '')}. ${first.what} ${others === 1 ? 'this N+1 and the other one' : `this N+1 and ${others} others`} over the same rows need: ${code}`,
          code,
        },
      }
    }
  }
  return merged
}
