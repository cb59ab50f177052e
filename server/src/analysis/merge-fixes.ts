/**
 * One fix for the N+1s of one loop: Django findings over the same rows (the same trigger query, or, for a loop nested
 * in another's rows such as each review's customer's profile, the trigger of the loop it is in; N+1s, and the
 * duplicates of a loop whose rows share one related object) whose fixes load more on one queryset get one queryset
 * with every load: `select_related("author", "publisher")`, `.select_related("author").prefetch_related("tags")
 * .annotate(...)`, or `select_related("customer")` inside a Prefetch and `select_related("customer__profile")` in the
 * same one. Pasted one by one, the separate fixes would each replace the other's, and two Prefetch objects of one
 * lookup with different querysets make Django raise ("lookup was already seen with a different queryset"). On a
 * Django admin changelist the same goes for the ModelAdmin's `list_select_related = [...]` (one list of every
 * relation) and its `get_queryset()` (one method with every annotation and prefetch); and for SQLAlchemy, a select's
 * `options(...)` (every loader, see {@link poolOptions}). Fixes one queryset cannot hold (see {@link chainCalls}) keep
 * their own.
 * @module
 */
import type { Finding } from '../protocol.js'
import { groupBy } from './detect-context.js'

/** A fix's code as parts that fixes of the same `key` can pool: rendered with the parts of all of them. */
interface Mergeable {
  key: string
  parts: string[]
  /** Null when the parts cannot be one fix: the findings keep their own. */
  render: (parts: string[]) => string | null
  /** How the text introduces the merged code: "One call loads what". */
  what: (code: string) => string
}

const quoted = (paths: string[]) => paths.map((path) => JSON.stringify(path)).join(', ')
const PATHS = '((?:"[\\w]+", )*"[\\w]+")'
const pathsOf = (args: string) => args.split(', ').map((arg) => arg.slice(1, -1))

/** `<prefix>.select_related("a", "b")<closing parens>`: the call of a fix whose arguments are relation paths only. */
const LAST_CALL = new RegExp(`^([\\s\\S]*)\\.(select_related|prefetch_related)\\(${PATHS}\\)(\\)*)$`)
/** A ModelAdmin's `list_select_related = ["a", "b"]`. */
const LIST_SELECT_RELATED = new RegExp(`^list_select_related = \\[${PATHS}\\]$`)
/** A queryset with calls chained on: the model's manager (`Book.objects`, `Book.objects.using("other")`), a related
 * manager (`book.reviews`), a ModelAdmin's `get_queryset()` returning its parent's, or `queryset` (without the
 * schema, the model is not named). */
const CHAIN = /^(def get_queryset\(self, request\):\n {4}return super\(\)\.get_queryset\(request\)|queryset|[A-Za-z_]\w*\.[A-Za-z_]\w*(?:\.using\("[^"]*"\))?)(\..+)$/s
const RELATION_CALL = new RegExp(`^\\.(select_related|prefetch_related)\\(${PATHS}\\)$`)

/** Each character of `text` from `start` that is outside a string literal, with the bracket depth before it. */
function* unquoted(text: string, start = 0): Generator<[number, string, number]> {
  let depth = 0
  let quote: string | null = null
  for (let i = start; i < text.length; i++) {
    const c = text[i]
    if (quote) {
      if (c === '\\') i++
      else if (c === quote) quote = null
      continue
    }
    if (c === '"' || c === "'") {
      quote = c
      continue
    }
    yield [i, c, depth]
    if (c === '(' || c === '[') depth++
    else if (c === ')' || c === ']') depth--
  }
}

/** `.a(x).b(y, (z))` as [".a(x)", ".b(y, (z))"]: split where a call starts outside any bracket or string. */
function callsOf(chain: string): string[] | null {
  const calls: string[] = []
  let start = 0
  for (const [i, c, depth] of unquoted(chain)) {
    if (c === '.' && depth === 0 && i > start) {
      calls.push(chain.slice(start, i))
      start = i
    }
  }
  calls.push(chain.slice(start))
  // Each a whole call: `.name(` and the parenthesis that closes it last.
  const whole = (call: string) => /^\.\w+\(.*\)$/s.test(call) && argumentsAfter(call, call.indexOf('(') + 1) === call.slice(call.indexOf('(') + 1, -1)
  return calls.every(whole) ? calls : null
}

/** The calls of several fixes on one queryset as one chain: the relation paths of every select_related() in one, of
 * every plain prefetch_related() in one (a longer path naming a shorter one's rows too), each other call once. Null
 * when they cannot be one queryset: two Prefetch objects of one lookup, or a plain path at or under the lookup of a
 * Prefetch that filters, orders or keeps its rows apart (Django refuses one lookup seen with two querysets, and
 * dropping the plain path would hand a loop reading `.all()` the filtered rows). A plain path beside a Prefetch of
 * the same lookup that only eager-loads or annotates its rows (GenericPrefetch("target", [...]) beside "target") is
 * left out: the Prefetch loads those rows too; a path under the lookup of a Prefetch that keeps every row
 * ("books__tags" beside `Prefetch("books", queryset=Book.objects.annotate(...))`) goes inside its queryset (see
 * {@link withPrefetchedInside}). */
function chainCalls(calls: string[]): string | null {
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
  const objects = out.flatMap(prefetchObjects)
  // Where each puts its rows: its to_attr, else the relation itself (two Prefetch objects of one lookup, each with a
  // to_attr of its own, go together: `.first()` and `.last()` of one relation).
  const targets = objects.map((o) => o.toAttr ?? o.lookup)
  if (new Set(targets).size !== targets.length) return null
  const plain = unionOf(paths.get('prefetch_related') ?? [])
  const kept: string[] = []
  const inside = new Map<string, string[]>() // a Prefetch's lookup -> the paths to prefetch in its queryset
  for (const path of plain) {
    const object = objects.find((o) => o.toAttr === null && (path === o.lookup || path.startsWith(`${o.lookup}__`)))
    if (!object) kept.push(path)
    else if (path !== object.lookup && object.allRows) inside.set(object.lookup, [...(inside.get(object.lookup) ?? []), path.slice(object.lookup.length + 2)])
    else if (!(path === object.lookup && (object.eagerOnly || object.allRows))) return null
  }
  return out
    .map((call) => {
      if (!paths.has(call)) return withPrefetchedInside(call, inside)
      const written = call === 'prefetch_related' ? kept : unionOf(paths.get(call)!)
      return written.length ? `.${call}(${quoted(written)})` : ''
    })
    .join('')
}

/** `call` with the paths of `inside` prefetched in the queryset of its Prefetch of their lookup:
 * `Prefetch("books", queryset=Book.objects.annotate(...).prefetch_related("tags"))` for `books__tags` beside it. */
function withPrefetchedInside(call: string, inside: Map<string, string[]>): string {
  let written = call
  for (const [lookup, paths] of inside) {
    // The Prefetch of the lookup that keeps its rows on the relation (one with a to_attr of its own may come first).
    const opening = `Prefetch("${lookup}", `
    for (let start = written.indexOf(opening); start >= 0; start = written.indexOf(opening, start + 1)) {
      const from = start + opening.length
      const queryset = argumentsAfter(written, from)
      if (queryset === null || !queryset.startsWith('queryset=') || /, to_attr=/.test(queryset)) continue
      const end = from + queryset.length
      written = `${written.slice(0, end)}.prefetch_related(${quoted(unionOf(paths))})${written.slice(end)}`
      break
    }
  }
  return written
}

/** A queryset that only eager-loads: `Review.objects.select_related("customer")`, no filter, order, cut or values. */
const EAGER_ONLY = /^\w+\.objects(?:\.(?:select_related|prefetch_related)\((?:"\w+"(?:, "\w+")*)?\))*$/

/** A queryset that keeps every row, as a plain prefetch would give them: `Book.objects` with only select_related,
 * prefetch_related and annotate calls (no filter, order, cut or values), so that more can be prefetched inside it. */
function keepsEveryRow(queryset: string): boolean {
  const manager = /^\w+\.objects/.exec(queryset)
  if (!manager) return false
  const rest = queryset.slice(manager[0].length)
  const calls = rest === '' ? [] : callsOf(rest)
  return calls !== null && calls.every((call) => /^\.(?:select_related|prefetch_related|annotate)\(/.test(call))
}

/** The Prefetch and GenericPrefetch objects of a call: their lookups, whether they only eager-load every row, and
 * whether a Prefetch's queryset keeps every row (more may be prefetched inside it). */
function prefetchObjects(call: string): { lookup: string; eagerOnly: boolean; allRows: boolean; toAttr: string | null }[] {
  const found: { lookup: string; eagerOnly: boolean; allRows: boolean; toAttr: string | null }[] = []
  for (const match of call.matchAll(/\b(Generic)?Prefetch\("(\w+)", /g)) {
    const rest = argumentsAfter(call, match.index! + match[0].length)
    if (rest === null) return [{ lookup: match[2], eagerOnly: false, allRows: false, toAttr: null }]
    const toAttr = /, to_attr="(\w+)"$/.exec(rest)?.[1] ?? null
    const queryset = rest.startsWith('queryset=') && toAttr === null ? rest.slice('queryset='.length) : null
    const eagerOnly = match[1]
      ? /^\[.*\]$/s.test(rest) && rest.slice(1, -1).split(/, (?=\w+\.objects)/).every((qs) => EAGER_ONLY.test(qs))
      : queryset !== null && EAGER_ONLY.test(queryset)
    found.push({ lookup: match[2], eagerOnly, allRows: !match[1] && queryset !== null && keepsEveryRow(queryset), toAttr })
  }
  return found
}

/** The text from `start` to the parenthesis closing the call it is in (null when unbalanced). */
function argumentsAfter(text: string, start: number): string | null {
  for (const [i, c, depth] of unquoted(text, start)) if ((c === ')' || c === ']') && depth === 0) return text.slice(start, i)
  return null
}

/** "One call loads what" the merged chain (after `head`) does when it is one call, else "One queryset does what". */
function chainWhat(head: string, code: string): string {
  if (head.startsWith('def ')) return 'One get_queryset() does what'
  return (callsOf(code.slice(head.length))?.length ?? 0) > 1 ? 'One queryset does what' : 'One call loads what'
}

/** SQLAlchemy: a select with loader options, `select(Book).options(joinedload(Book.author))`, or a session.get()
 * with them, `session.get(User, id, options=[selectinload(User.posts)])`. */
const OPTIONS = /^(select\(\w+\))\.options\((.+)\)$/s
const GET_OPTIONS = /^(session\.get\(\w+, \w+, options=\[)(.+)(\]\))$/s

/** The arguments of a call, split at its top-level commas. */
function argumentsOf(args: string): string[] {
  const parts: string[] = []
  let start = 0
  for (const [i, c, depth] of unquoted(args)) {
    if (c === ',' && depth === 0) {
      parts.push(args.slice(start, i).trim())
      start = i + 1
    }
  }
  parts.push(args.slice(start).trim())
  return parts
}

/** The loader options of several fixes as one `options(...)`: each once, without one another extends
 * (`selectinload(Author.books)` beside `selectinload(Author.books).selectinload(Book.tags)`). Null when two load one
 * relationship with different strategies (joinedload and selectinload of `Book.author`): which to keep is the code's
 * choice. */
function poolOptions(options: string[]): string[] | null {
  const all = [...new Set(options)].filter((option) => !options.some((other) => other.startsWith(`${option}.`)))
  const strategies = new Map<string, string>()
  for (const option of all) {
    const first = /^(\w+)\(([\w.]+)/.exec(option)
    if (!first) continue
    const [, strategy, attribute] = first
    if ((strategies.get(attribute) ?? strategy) !== strategy) return null
    strategies.set(attribute, strategy)
  }
  return all
}

function mergeableOf(code: string | null): Mergeable | null {
  if (code === null) return null
  const options = OPTIONS.exec(code)
  const got = options ? null : GET_OPTIONS.exec(code)
  if (options || got) {
    const [head, args, tail] = options ? [`${options[1]}.options(`, options[2], ')'] : [got![1], got![2], got![3]]
    const render = (parts: string[]) => {
      const pooled = poolOptions(parts)
      return pooled === null ? null : `${head}${pooled.join(', ')}${tail}`
    }
    return { key: `options\0${head}`, parts: argumentsOf(args), render, what: () => (options ? 'One select loads what' : 'One session.get() loads what') }
  }
  // Calls on a queryset of their own, inside a Prefetch (`Prefetch("reviews", queryset=Review.objects.select_related(
  // "customer"))`): the paths join there, in one Prefetch.
  const call = LAST_CALL.exec(code)
  if (call && call[4] !== '') {
    const [, head, method, args, tail] = call
    const render = (paths: string[]) => `${head}.${method}(${quoted(unionOf(paths))})${tail}`
    return { key: `${head}\0${method}\0${tail}`, parts: pathsOf(args), render, what: () => 'One call loads what' }
  }
  const chain = CHAIN.exec(code)
  const calls = chain && callsOf(chain[2])
  if (chain && calls) {
    const head = chain[1]
    const render = (parts: string[]) => {
      const chained = chainCalls(parts)
      return chained === null ? null : `${head}${chained}`
    }
    return { key: `chain\0${head}`, parts: calls, render, what: (code) => chainWhat(head, code) }
  }
  const list = LIST_SELECT_RELATED.exec(code)
  if (list) {
    const render = (paths: string[]) => `list_select_related = [${quoted(unionOf(paths))}]`
    return { key: 'list_select_related', parts: pathsOf(list[1]), render, what: () => 'One list loads what' }
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
  const fixes = findings.map((finding) => (finding.kind !== 'repeated_write' && finding.trigger_index !== null ? mergeableOf(finding.suggestion.code) : null))
  const rowsOf = rootTriggers(findings)
  const withFix = findings.flatMap((_, i) => (fixes[i] ? [i] : []))
  const groups = groupBy(withFix, (i) => `${rowsOf(i)}\0${fixes[i]!.key}`)
  const merged = [...findings]
  for (const members of groups.values()) {
    if (members.length < 2) continue
    const first = fixes[members[0]]!
    const parts = members.flatMap((i) => fixes[i]!.parts)
    const code = first.render(parts)
    if (code === null) continue
    const what = first.what(code)
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
