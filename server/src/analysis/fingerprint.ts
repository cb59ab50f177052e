/**
 * SQL fingerprints: the F1 canonical form of `shared/FINGERPRINT.md` (the query with every value taken out) and its
 * 64-bit id.
 *
 * `fingerprint` runs in three linear passes over one statement at a time, with no recursion and no exceptions:
 * 1. the lexer's tokens are normalized as they arrive: spaces and comments dropped, bare words lowercased, literals and
 *    placeholders turned into `?`, signs folded into numbers (rule 8), `null`/`true`/`false` turned into `?` (rule 9);
 *    per-call names after `savepoint`, `release`, `declare`, `fetch ... from`... are erased (rule 10);
 * 2. the tokens are nested by brackets with an explicit stack; each bracket group is finished when it closes (or at
 *    the end of the statement when it never does): IN lists and ARRAY[...] of simple values collapse to `(...)` /
 *    `[...]` (rules 11, 12), VALUES row lists collapse or de-duplicate (rule 13). Every finished group is interned to
 *    a number, so that comparing two VALUES rows costs one comparison however deep they nest;
 * 3. the tree is rendered with the spacing of rule 15, again with an explicit stack.
 * @module
 */
import { scanSql, type Dialect } from './lexer.js'

/** The F1 canonical form of `sql`: literals and placeholders as `?`, IN lists and VALUES rows collapsed, no comments. */
export function fingerprint(sql: string, dialect: Dialect): string {
  const text = typeof sql === 'string' ? sql : ''
  const statements: string[] = []
  const interned = new Map<string, number>()
  let tokens: Tok[] = []
  let foldableSign = -1 // index in `tokens` of a `-`/`+` that folds into a number right after it (rule 8)

  const push = (tok: Tok) => {
    tokens.push(tok)
    foldableSign = -1
  }
  const endStatement = () => {
    if (tokens.length === 0) return
    eraseNames(tokens)
    statements.push(render(nest(tokens, interned)))
    tokens = []
    foldableSign = -1
  }

  scanSql(text, dialect, (kind, start, end) => {
    work++
    switch (kind) {
      case 'space':
      case 'comment':
        return
      case 'punct':
        if (text.charCodeAt(start) === SEMICOLON) endStatement()
        else push(PUNCTS[text.charCodeAt(start)] ?? new Tok(PUNCT, text.slice(start, end)))
        return
      case 'word': {
        const word = lowerAscii(text.slice(start, end))
        if ((word === 'null' || word === 'true' || word === 'false') && !followsIsOrNot(tokens)) push(VALUE_TOK)
        else push(new Tok(WORD, word))
        return
      }
      case 'ident':
        push(new Tok(IDENT, text.slice(start, end)))
        return
      case 'number':
        if (foldableSign >= 0 && foldableSign === tokens.length - 1) tokens.pop()
        push(VALUE_TOK)
        return
      case 'string':
      case 'param':
        push(VALUE_TOK)
        return
      case 'op': {
        const op = end - start === 2 && text.startsWith('%%', start) ? '%' : text.slice(start, end)
        const sign = (op === '-' || op === '+') && !endsOperand(tokens[tokens.length - 1])
        push(new Tok(OP, op))
        if (sign) foldableSign = tokens.length - 1
        return
      }
    }
  })
  endStatement()
  return statements.join('; ')
}

/**
 * The fingerprint id: FNV-1a 64 over the UTF-8 bytes of the normalized text, as 16 lower-case hex digits. The 64-bit
 * state is kept in two unsigned 32-bit halves (no BigInt): multiplying by the prime 2^40 + 0x1b3 is `h * 0x1b3`
 * (low half by `Math.imul`, its carry from 16-bit pieces) plus the low half shifted 8 bits into the high half.
 */
export function fingerprintId(normalized: string): string {
  const s = typeof normalized === 'string' ? normalized : ''
  let hi = 0xcbf29ce4 | 0
  let lo = 0x84222325 | 0
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    let count = 1
    if (c < 0x80) {
      bytes[0] = c
    } else if (c < 0x800) {
      bytes[0] = 0xc0 | (c >>> 6)
      bytes[1] = 0x80 | (c & 63)
      count = 2
    } else {
      const low = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (c >= 0xd800 && c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        i++
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00)
        bytes[0] = 0xf0 | (c >>> 18)
        bytes[1] = 0x80 | ((c >>> 12) & 63)
        bytes[2] = 0x80 | ((c >>> 6) & 63)
        bytes[3] = 0x80 | (c & 63)
        count = 4
      } else {
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd // a lone surrogate encodes as U+FFFD, as TextEncoder does
        bytes[0] = 0xe0 | (c >>> 12)
        bytes[1] = 0x80 | ((c >>> 6) & 63)
        bytes[2] = 0x80 | (c & 63)
        count = 3
      }
    }
    for (let k = 0; k < count; k++) {
      lo ^= bytes[k]
      const carry = ((lo >>> 16) * 0x1b3 + (((lo & 0xffff) * 0x1b3) >>> 16)) >>> 16
      hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) | 0
      lo = Math.imul(lo, 0x1b3)
    }
  }
  return hex8(hi >>> 0) + hex8(lo >>> 0)
}

/** The UTF-8 bytes of one character, reused by `fingerprintId`. */
const bytes = new Uint8Array(4)

/**
 * Work units done by `fingerprint` since this module loaded: one per token read, per list element or group item
 * examined, per token rendered. Linear time means linear work; the fuzz tests check that on hostile shapes by
 * counting instead of timing.
 */
export function fingerprintWork(): number {
  return work
}

let work = 0

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0')
}

// Normalized token kinds.
const WORD = 0 // bare word, lowercased
const IDENT = 1 // quoted identifier, verbatim
const VALUE = 2 // `?`: a literal or a placeholder
const OP = 3
const PUNCT = 4
const ELLIPSIS = 5 // `...` of a collapsed list

class Tok {
  constructor(
    readonly kind: number,
    readonly text: string,
  ) {}
}

/** A bracket group; `close` is null when the statement ended before it closed. */
class Group {
  id = 0
  /** `( simple values )`: an element of a row-value IN list. */
  tuple = false
  /** `( simple values or default )`: a VALUES row that collapses. */
  row = false
  constructor(
    readonly open: Tok,
    public items: Item[],
    readonly close: Tok | null,
  ) {}
}

type Item = Tok | Group

const SEMICOLON = 59
const VALUE_TOK = new Tok(VALUE, '?')
const ELLIPSIS_ITEMS: Item[] = [new Tok(ELLIPSIS, '...')]
const PUNCTS: Record<number, Tok> = {}
for (const p of '()[],.') PUNCTS[p.charCodeAt(0)] = new Tok(PUNCT, p)

/** Rule 8's K: words after which a `-`/`+` is a sign, not a binary operator. */
const SIGN_KEYWORDS = new Set(
  (
    'select where and or not when then else in values value by between like ilike on limit offset having case ' +
    'distinct all any some return returning set into is from as exists escape interval with union except intersect ' +
    'do update'
  ).split(' '),
)

/** Rule 15's S: words written with a space before `(`. */
const SPACED_WORDS = new Set(
  (
    'all and as between by case check conflict distinct else except exists filter from having ilike in intersect ' +
    'into is join lateral like not on or over returning select set table then union using values value when where ' +
    'with within'
  ).split(' '),
)

/** Rule 8: does `tok` end an operand (so that a `-` after it is binary)? */
function endsOperand(tok: Tok | undefined): boolean {
  if (tok === undefined) return false
  switch (tok.kind) {
    case VALUE:
    case IDENT:
      return true
    case WORD:
      return !SIGN_KEYWORDS.has(tok.text)
    case PUNCT:
      return tok.text === ')' || tok.text === ']'
    default:
      return false
  }
}

/** Rule 9: `null`/`true`/`false` stay words right after `is` or `not`. */
function followsIsOrNot(tokens: Tok[]): boolean {
  const prev = tokens[tokens.length - 1]
  return prev !== undefined && prev.kind === WORD && (prev.text === 'is' || prev.text === 'not')
}

function isWordAt(tokens: Tok[], i: number, word: string): boolean {
  return i < tokens.length && tokens[i].kind === WORD && tokens[i].text === word
}

/** Rule 10: per-call savepoint, cursor and prepared-statement names at statement start become `?`. */
function eraseNames(tokens: Tok[]): void {
  const erase = (i: number) => {
    if (i < tokens.length && (tokens[i].kind === WORD || tokens[i].kind === IDENT)) tokens[i] = VALUE_TOK
  }
  if (tokens[0].kind !== WORD) return
  switch (tokens[0].text) {
    case 'savepoint':
    case 'declare':
    case 'execute':
      erase(1)
      return
    case 'release':
      erase(isWordAt(tokens, 1, 'savepoint') ? 2 : 1)
      return
    case 'rollback': {
      let i = 1
      if (isWordAt(tokens, i, 'work') || isWordAt(tokens, i, 'transaction')) i++
      if (!isWordAt(tokens, i, 'to')) return
      i++
      if (isWordAt(tokens, i, 'savepoint')) i++
      erase(i)
      return
    }
    case 'close':
      if (!isWordAt(tokens, 1, 'all')) erase(1)
      return
    case 'prepare':
      if (!isWordAt(tokens, 1, 'transaction')) erase(1)
      return
    case 'deallocate': {
      const i = isWordAt(tokens, 1, 'prepare') ? 2 : 1
      if (!isWordAt(tokens, i, 'all')) erase(i)
      return
    }
    case 'fetch':
    case 'move':
      for (let i = 1; i < tokens.length; i++) {
        work++
        if (isWordAt(tokens, i, 'from') || isWordAt(tokens, i, 'in')) {
          erase(i + 1)
          return
        }
      }
      return
  }
}

const PLAIN = 0
const IN_LIST = 1
const ARRAY_LIST = 2

interface Frame {
  open: Tok | null
  items: Item[]
  context: number
}

/** Nests one statement's tokens by brackets (explicit stack), finishing each group as it closes. */
function nest(tokens: Tok[], interned: Map<string, number>): Item[] {
  const frames: Frame[] = [{ open: null, items: [], context: PLAIN }]
  let top = frames[0]
  for (const tok of tokens) {
    work++
    if (tok.kind === PUNCT) {
      if (tok.text === '(' || tok.text === '[') {
        const last = top.items[top.items.length - 1]
        let context = PLAIN
        if (last instanceof Tok && last.kind === WORD) {
          if (tok.text === '(' && last.text === 'in') context = IN_LIST
          else if (tok.text === '[' && last.text === 'array') context = ARRAY_LIST
        }
        top = { open: tok, items: [], context }
        frames.push(top)
        continue
      }
      if (top.open !== null && (tok.text === ')' || tok.text === ']') && matches(top.open.text, tok.text)) {
        const group = finishGroup(top, tok, interned)
        frames.pop()
        top = frames[frames.length - 1]
        top.items.push(group)
        continue
      }
    }
    top.items.push(tok)
  }
  while (frames.length > 1) {
    const group = finishGroup(top, null, interned)
    frames.pop()
    top = frames[frames.length - 1]
    top.items.push(group)
  }
  return collapseValues(top.items, interned)
}

function matches(open: string, close: string): boolean {
  return open === '(' ? close === ')' : close === ']'
}

function finishGroup(frame: Frame, close: Tok | null, interned: Map<string, number>): Group {
  const open = frame.open as Tok
  const truncated = close === null
  const group = new Group(open, collapseValues(frame.items, interned), close)
  if (open.text === '(') {
    group.tuple = isSimpleList(group.items, truncated, false, false)
    group.row = group.tuple || isSimpleList(group.items, truncated, false, true)
    if (frame.context === IN_LIST && (group.tuple || isSimpleList(group.items, truncated, true, false))) {
      group.items = ELLIPSIS_ITEMS
    }
  } else if (frame.context === ARRAY_LIST && isSimpleList(group.items, truncated, false, false)) {
    group.items = ELLIPSIS_ITEMS
  }
  group.id = internGroup(group, interned)
  return group
}

/** A number per distinct rendering: groups with equal ids render identically. */
function internGroup(group: Group, interned: Map<string, number>): number {
  let key = group.open.text
  for (const item of group.items) {
    work++
    key += item instanceof Group ? `\u0002${item.id}\u0001` : `${item.kind}${item.text}\u0001`
  }
  key += group.close === null ? '\u0003' : group.close.text
  let id = interned.get(key)
  if (id === undefined) {
    id = interned.size + 1
    interned.set(key, id)
  }
  return id
}

/**
 * Is `items` a comma-separated list of ≥ 1 simple values: `?` with optional casts (`::type`, `::type[]`), and, when
 * allowed, `default` or simple tuples? A trailing comma is accepted only in a list cut off by the end of the input.
 */
function isSimpleList(items: Item[], truncated: boolean, tuples: boolean, defaults: boolean): boolean {
  const n = items.length
  let i = 0
  while (i < n) {
    work++
    const item = items[i]
    if (item instanceof Group) {
      if (!tuples || !item.tuple) return false
      i++
    } else if (item.kind === VALUE) {
      i = skipCasts(items, i + 1)
    } else if (defaults && item.kind === WORD && item.text === 'default') {
      i++
    } else {
      return false
    }
    if (i === n) return true
    const comma = items[i]
    if (comma instanceof Group || comma.kind !== PUNCT || comma.text !== ',') return false
    i++
    if (i === n) return truncated
  }
  return false
}

/** Skips `::type`, `::schema.type` and `::type[]` casts starting at `i`. */
function skipCasts(items: Item[], i: number): number {
  for (;;) {
    work++
    const op = items[i]
    const type = items[i + 1]
    if (!(op instanceof Tok) || op.kind !== OP || op.text !== '::' || !isName(type)) return i
    i += 2
    while (isPunctItem(items[i], '.') && isName(items[i + 1])) i += 2
    for (;;) {
      const brackets = items[i]
      if (!(brackets instanceof Group) || brackets.open.text !== '[' || brackets.items.length !== 0 || !brackets.close) {
        break
      }
      i++
    }
  }
}

function isName(item: Item | undefined): boolean {
  return item instanceof Tok && (item.kind === WORD || item.kind === IDENT)
}

function isPunctItem(item: Item | undefined, text: string): boolean {
  return item instanceof Tok && item.kind === PUNCT && item.text === text
}

function isParenGroup(item: Item | undefined): item is Group {
  return item instanceof Group && item.open.text === '('
}

/**
 * Rule 13 on one level of items: `values` followed by rows `(...) , (...)`. Rows that are all simple collapse to
 * `values (...)`; rows that all render alike keep one; otherwise every row stays.
 */
function collapseValues(items: Item[], interned: Map<string, number>): Item[] {
  let out: Item[] | null = null
  const n = items.length
  let i = 0
  while (i < n) {
    work++
    const item = items[i]
    if (isValuesAt(items, i)) {
      const first = items[i + 1] as Group
      let end = i + 2
      let simple = first.row
      let alike = true
      while (end + 1 < n && isPunctItem(items[end], ',') && isParenGroup(items[end + 1])) {
        work++
        const row = items[end + 1] as Group
        simple = simple && row.row
        alike = alike && row.id === first.id
        end += 2
      }
      if (simple || alike) {
        out ??= items.slice(0, i)
        let kept = first
        if (simple) {
          kept = new Group(first.open, ELLIPSIS_ITEMS, (items[end - 1] as Group).close)
          kept.id = internGroup(kept, interned)
        }
        out.push(item, kept)
        i = end
        continue
      }
    }
    if (out !== null) out.push(item)
    i++
  }
  return out ?? items
}

function isValuesAt(items: Item[], i: number): boolean {
  const item = items[i]
  return (
    item instanceof Tok &&
    item.kind === WORD &&
    (item.text === 'values' || item.text === 'value') &&
    isParenGroup(items[i + 1])
  )
}

/** Rule 15: joins the tokens by one space, except around brackets, dots, casts and function calls. */
function render(items: Item[]): string {
  let out = ''
  let prev: Tok | null = null
  const emit = (tok: Tok) => {
    work++
    if (prev !== null && spaced(prev, tok)) out += ' '
    out += tok.text
    prev = tok
  }
  const stack: { items: Item[]; i: number; close: Tok | null }[] = []
  let current = { items, i: 0, close: null as Tok | null }
  for (;;) {
    if (current.i >= current.items.length) {
      if (current.close !== null) emit(current.close)
      const outer = stack.pop()
      if (outer === undefined) return out
      current = outer
      continue
    }
    const item = current.items[current.i++]
    if (item instanceof Group) {
      emit(item.open)
      stack.push(current)
      current = { items: item.items, i: 0, close: item.close }
    } else {
      emit(item)
    }
  }
}

function spaced(prev: Tok, tok: Tok): boolean {
  if (prev.kind === PUNCT && (prev.text === '(' || prev.text === '[' || prev.text === '.')) return false
  if (prev.kind === OP && (prev.text === '::' || prev.text === ':')) return false
  if (tok.kind === PUNCT) {
    switch (tok.text) {
      case ')':
      case ']':
      case ',':
      case '.':
        return false
      case '(':
        return !(prev.kind === WORD && !SPACED_WORDS.has(prev.text))
      case '[':
        return !(
          prev.kind === WORD ||
          prev.kind === IDENT ||
          prev.kind === VALUE ||
          (prev.kind === PUNCT && (prev.text === ')' || prev.text === ']'))
        )
    }
  }
  if (tok.kind === OP && (tok.text === '::' || tok.text === ':')) return false
  return true
}

/** Lowercases ASCII letters only (rule 6): `É` stays `É`. */
function lowerAscii(s: string): string {
  let upper = false
  let ascii = true
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 65 && c <= 90) upper = true
    else if (c > 127) ascii = false
  }
  if (!upper) return s
  if (ascii) return s.toLowerCase()
  let out = ''
  let from = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 65 && c <= 90) {
      out += s.slice(from, i) + String.fromCharCode(c + 32)
      from = i + 1
    }
  }
  return out + s.slice(from)
}
