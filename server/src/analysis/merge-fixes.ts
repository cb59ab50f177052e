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
  /** How the text introduces the merged code, for the parts of all: "One call loads what". */
  what: string | ((parts: string[]) => string)
}

const quoted = (paths: string[]) => paths.map((path) => JSON.stringify(path)).join(', ')
const PATHS = '((?:"[\\w]+", )*"[\\w]+")'
const pathsOf = (args: string) => args.split(', ').map((arg) => arg.slice(1, -1))

/** `<prefix>.select_related("a", "b")<closing parens>`: the call of a fix whose arguments are relation paths only. */
const LAST_CALL = new RegExp(`^([\\s\\S]*)\\.(select_related|prefetch_related)\\(${PATHS}\\)(\\)*)$`)
/** A ModelAdmin's `list_select_related = ["a", "b"]`. */
const LIST_SELECT_RELATED = new RegExp(`^list_select_related = \\[${PATHS}\\]$`)
/** A queryset with calls chained on: the model's manager (`Book.objects`, `Book.objects.using("other")`), a related
 * manager (`book.reviews`), or a ModelAdmin's `get_queryset()` returning its parent's. */
const CHAIN = /^(def get_queryset\(self, request\):\n {4}return super\(\)\.get_queryset\(request\)|[A-Za-z_]\w*\.[A-Za-z_]\w*(?:\.using\("[^"]*"\))?)(\..+)$/s
const RELATION_CALL = new RegExp(`^\\.(select_related|prefetch_related)\\(${PATHS}\\)$`)

/** `.a(x).b(y, (z))` as [".a(x)", ".b(y, (z))"]: split where a call starts outside any bracket or string. */
function callsOf(chain: string): string[] | null {
  const calls: string[] = []
  let depth = 0
  let quote: string | null = null
  let start = 0
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]
    if (quote) {
      if (c === '\\') i++
      else if (c === quote) quote = null
    } else if (c === '"' || c === "'") quote = c
    else if (c === '(' || c === '[') depth++
    else if (c === ')' || c === ']') depth--
    else if (c === '.' && depth === 0 && i > start) {
      calls.push(chain.slice(start, i))
      start = i
    }
  }
  calls.push(chain.slice(start))
  return depth === 0 && quote === null && calls.every((call) => /^\.\w+\(.*\)$/s.test(call)) ? calls : null
}

/** The calls of several fixes on one queryset as one chain: the relation paths of every select_related() in one, of
 * every plain prefetch_related() in one (a longer path naming a shorter one's rows too), each other call once. */
function chainCalls(calls: string[]): string {
  const paths = new Map<string, string[]>()
  const out: string[] = []
  for (const call of calls) {
    const relation = RELATION_CALL.exec(call)
    if (!relation) {
      if (!out.includes(call)) out.push(call)
      continue
    }
    const [, method, args] = relation
    if (!paths.has(method)) {
      paths.set(method, [])
      out.push(method) // its place in the chain, written below
    }
    paths.get(method)!.push(...pathsOf(args))
  }
  // A lookup a Prefetch object loads is not prefetched again by its plain path: Django refuses one lookup seen twice
  // with different querysets ("target" beside GenericPrefetch("target", ...)).
  const objects = new Set(out.flatMap((call) => [...call.matchAll(/\b(?:Generic)?Prefetch\("(\w+)"/g)].map((m) => m[1])))
  return out
    .map((call) => {
      if (!paths.has(call)) return call
      const kept = unionOf(paths.get(call)!).filter((path) => call !== 'prefetch_related' || !objects.has(path))
      return kept.length ? `.${call}(${quoted(kept)})` : ''
    })
    .join('')
}

/** "One call loads what" the merged chain does when it is one call, else "One queryset does what". */
const chainWhat = (head: string, parts: string[]): string =>
  head.startsWith('def ') ? 'One get_queryset() does what' : (callsOf(chainCalls(parts))?.length ?? 0) > 1 ? 'One queryset does what' : 'One call loads what'

function mergeableOf(code: string | null): Mergeable | null {
  if (code === null) return null
  const chain = CHAIN.exec(code)
  const calls = chain && callsOf(chain[2])
  if (chain && calls) {
    const head = chain[1]
    return { key: `chain\0${head}`, parts: calls, render: (parts) => `${head}${chainCalls(parts)}`, what: (parts) => chainWhat(head, parts) }
  }
  // Calls on a queryset of their own, inside a Prefetch: `Prefetch("reviews", queryset=Review.objects.select_related(...))`.
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
    const parts = members.flatMap((i) => fixes[i]!.parts)
    const code = first.render(parts)
    const what = typeof first.what === 'string' ? first.what : first.what(parts)
    for (const i of members) {
      const finding = findings[i]
      if (finding.suggestion.code === code) continue
      const others = members.length - 1
      merged[i] = {
        ...finding,
        suggestion: {
          text: `${finding.suggestion.text.replace(/\.$/, '')}. ${what} ${others === 1 ? 'this N+1 and the other one' : `this N+1 and ${others} others`} over the same rows need: ${code}`,
          code,
        },
      }
    }
  }
  return merged
}
