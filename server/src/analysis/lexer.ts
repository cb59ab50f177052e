/**
 * The one SQL lexer of querysight: fingerprints, display formatting, syntax highlighting and the detectors' table and
 * column lookups all read SQL through it.
 *
 * Hand-written, one pass over the string with `charCodeAt`, no regular expressions, no recursion, linear time, and it
 * never throws: every input, however broken, becomes a list of tokens whose slices cover the input exactly
 * (`tokens.map((t) => t.text).join('') === sql`). It follows the tokenizing rules 1–7 of `shared/FINGERPRINT.md`.
 *
 * Token kinds:
 * - `space`   a run of whitespace: ASCII control characters and space, and Unicode spaces including U+FEFF.
 * - `comment` `-- …` up to (not including) the line break, MySQL `# …`, and `/* … *\/` (nested in pg; MySQL `/*! *\/`
 *             and optimizer hints `/*+ *\/` are comments too). Unterminated comments run to the end of the input.
 * - `word`    a bare keyword or unquoted identifier, as written (`SELECT`, `auth_user`, `s140245_x12`, `123abc`), and in
 *             MySQL the variables `@var` / `@@var`. `NULL`, `TRUE` and `FALSE` are words.
 * - `ident`   a quoted identifier, verbatim with its quotes: `"x"` (pg, sqlite, ansi), `` `x` `` (mysql, sqlite, ansi),
 *             `[x]` (sqlite), `U&"x"` (pg). Doubled quotes inside are escapes.
 * - `string`  a string literal with its prefix: `'…'`, `E'…'` and `U&'…'` (pg), `N'…'`, `X'…'`, `B'…'`, `_utf8mb4'…'`
 *             and `"…"` (mysql), `$$…$$` and `$tag$…$tag$` (pg). Unterminated strings run to the end of the input.
 * - `number`  `42 4.5 .5 5. 1e10 1.5E-3 0x1F 0b101 0o17 1_000` (no sign: `-` is an `op`).
 * - `param`   a placeholder: `%s`, `%(name)s`, `$1`, `?` and `?NNN` (mysql, sqlite, ansi), `:name`, `@name` and `$name`
 *             (sqlite), SQLAlchemy's `__[POSTCOMPILE_name]`.
 * - `punct`   one of `( ) [ ] , ; .`
 * - `op`      any other symbol, longest match first (`<=> ->> #>> !~* :: <= >= <> != || -> #> @> <@ ?| ?& && << >> :=
 *             => !~ ~*`, else one character). `%%` (psycopg's escaped percent) is one `op` token whose text is `%%`.
 *             In pg, `?`, `?|` and `?&` are jsonb operators, and `#`, `#>`, `#>>` are operators in every dialect but mysql.
 * @module
 */

export type Dialect = 'pg' | 'mysql' | 'sqlite' | 'ansi'

export type TokenKind = 'word' | 'ident' | 'string' | 'number' | 'param' | 'op' | 'punct' | 'comment' | 'space'

/** One token; `text` is the exact source slice `sql.slice(start, end)`. */
export interface Token {
  kind: TokenKind
  text: string
  start: number
  end: number
}

/** The dialect for a DB-API / Django vendor name: postgresql/postgres/pg → pg, mysql/mariadb → mysql, sqlite → sqlite. */
export function dialectOf(vendor: string): Dialect {
  switch (typeof vendor === 'string' ? vendor.trim().toLowerCase() : '') {
    case 'postgresql':
    case 'postgres':
    case 'pg':
      return 'pg'
    case 'mysql':
    case 'mariadb':
      return 'mysql'
    case 'sqlite':
    case 'sqlite3':
      return 'sqlite'
    default:
      return 'ansi'
  }
}

/** Splits SQL into tokens covering the whole input, spaces and comments included. Never throws; linear time. */
export function tokenize(sql: string, dialect: Dialect): Token[] {
  const tokens: Token[] = []
  const text = typeof sql === 'string' ? sql : ''
  scanSql(text, dialect, (kind, start, end) => {
    tokens.push({ kind, text: text.slice(start, end), start, end })
  })
  return tokens
}

/** Receives each token as a kind and a `[start, end)` range of the input. */
export type TokenSink = (kind: TokenKind, start: number, end: number) => void

/**
 * The scanner behind `tokenize`, for callers that want the token ranges without building `Token` objects (the
 * fingerprint, which runs on every captured query). Calls `sink` once per token, in order, covering the input.
 */
export function scanSql(sql: string, dialect: Dialect, sink: TokenSink): void {
  const n = sql.length
  const pg = dialect === 'pg'
  const mysql = dialect === 'mysql'
  const sqlite = dialect === 'sqlite'
  let i = 0
  while (i < n) {
    const start = i
    const c = sql.charCodeAt(i)

    if (isSpace(c)) {
      i++
      while (i < n && isSpace(sql.charCodeAt(i))) i++
      sink('space', start, i)
      continue
    }

    if (isIdentStart(c)) {
      // SQLAlchemy's compiled-but-unexpanded IN parameter.
      if (c === UNDERSCORE && sql.startsWith(POSTCOMPILE, i)) {
        i += POSTCOMPILE.length
        while (i < n && isIdentPart(sql.charCodeAt(i))) i++
        if (i < n && sql.charCodeAt(i) === RBRACKET) i++
        sink('param', start, i)
        continue
      }
      i++
      while (i < n && isIdentPart(sql.charCodeAt(i))) i++
      const next = i < n ? sql.charCodeAt(i) : 0
      const len = i - start
      if (next === QUOTE && len === 1) {
        const p = c | 0x20
        if (p === LOWER_N || p === LOWER_X || p === LOWER_B) {
          i = scanQuoted(sql, i + 1, QUOTE, mysql)
          sink('string', start, i)
          continue
        }
        if (p === LOWER_E && pg) {
          i = scanQuoted(sql, i + 1, QUOTE, true)
          sink('string', start, i)
          continue
        }
      }
      if (pg && len === 1 && (c | 0x20) === LOWER_U && next === AMPERSAND && i + 1 < n) {
        const q = sql.charCodeAt(i + 1)
        if (q === QUOTE || q === DQUOTE) {
          i = scanQuoted(sql, i + 2, q, false)
          sink(q === QUOTE ? 'string' : 'ident', start, i)
          continue
        }
      }
      if (mysql && c === UNDERSCORE && len > 1 && (next === QUOTE || next === DQUOTE)) {
        i = scanQuoted(sql, i + 1, next, true)
        sink('string', start, i)
        continue
      }
      sink('word', start, i)
      continue
    }

    if (isDigit(c) || (c === DOT && i + 1 < n && isDigit(sql.charCodeAt(i + 1)))) {
      i = scanNumber(sql, i)
      if (i < n && isIdentPart(sql.charCodeAt(i))) {
        // `123abc`: a digit run followed by identifier characters is an identifier.
        while (i < n && isIdentPart(sql.charCodeAt(i))) i++
        sink('word', start, i)
      } else {
        sink('number', start, i)
      }
      continue
    }

    const c1 = i + 1 < n ? sql.charCodeAt(i + 1) : 0
    const c2 = i + 2 < n ? sql.charCodeAt(i + 2) : 0
    switch (c) {
      case QUOTE:
        i = scanQuoted(sql, i + 1, QUOTE, mysql)
        sink('string', start, i)
        continue
      case DQUOTE:
        i = scanQuoted(sql, i + 1, DQUOTE, mysql)
        sink(mysql ? 'string' : 'ident', start, i)
        continue
      case BACKTICK:
        if (pg) break
        i = scanQuoted(sql, i + 1, BACKTICK, false)
        sink('ident', start, i)
        continue
      case LBRACKET:
        if (sqlite) {
          const close = sql.indexOf(']', i + 1)
          i = close < 0 ? n : close + 1
          sink('ident', start, i)
          continue
        }
        sink('punct', start, i + 1)
        i++
        continue
      case LPAREN:
      case RPAREN:
      case RBRACKET:
      case COMMA:
      case SEMICOLON:
      case DOT:
        sink('punct', start, i + 1)
        i++
        continue
      case MINUS:
        if (c1 === MINUS && (!mysql || i + 2 >= n || isSpace(c2))) {
          i += 2
          while (i < n) {
            const d = sql.charCodeAt(i)
            if (d === LF || d === CR) break
            i++
          }
          sink('comment', start, i)
          continue
        }
        break
      case HASH:
        if (mysql) {
          i++
          while (i < n) {
            const d = sql.charCodeAt(i)
            if (d === LF || d === CR) break
            i++
          }
          sink('comment', start, i)
          continue
        }
        break
      case SLASH:
        if (c1 === STAR) {
          i = scanBlockComment(sql, i + 2, pg)
          sink('comment', start, i)
          continue
        }
        break
      case PERCENT:
        if (c1 === LOWER_S) {
          sink('param', start, i + 2)
          i += 2
          continue
        }
        if (c1 === PERCENT) {
          sink('op', start, i + 2)
          i += 2
          continue
        }
        if (c1 === LPAREN) {
          let j = i + 2
          while (j < n && isIdentPart(sql.charCodeAt(j))) j++
          if (j + 1 < n && sql.charCodeAt(j) === RPAREN && sql.charCodeAt(j + 1) === LOWER_S) {
            i = j + 2
            sink('param', start, i)
            continue
          }
        }
        break
      case DOLLAR: {
        if (isDigit(c1)) {
          i += 2
          while (i < n && isDigit(sql.charCodeAt(i))) i++
          sink('param', start, i)
          continue
        }
        if (pg && (c1 === DOLLAR || isIdentStart(c1))) {
          // `$$` or `$tag$` opens a dollar-quoted string closed by the same delimiter.
          let j = i + 1
          while (j < n && isTagPart(sql.charCodeAt(j))) j++
          if (j < n && sql.charCodeAt(j) === DOLLAR) {
            const delimiter = sql.slice(i, j + 1)
            const close = sql.indexOf(delimiter, j + 1)
            i = close < 0 ? n : close + delimiter.length
            sink('string', start, i)
            continue
          }
        }
        if (sqlite && isIdentPart(c1)) {
          i += 2
          while (i < n && isIdentPart(sql.charCodeAt(i))) i++
          sink('param', start, i)
          continue
        }
        if (mysql && isIdentPart(c1)) {
          i += 2
          while (i < n && isIdentPart(sql.charCodeAt(i))) i++
          sink('word', start, i)
          continue
        }
        break
      }
      case QUESTION:
        if (pg) {
          sink('op', start, i + (c1 === PIPE || c1 === AMPERSAND ? 2 : 1))
          i += c1 === PIPE || c1 === AMPERSAND ? 2 : 1
          continue
        }
        i++
        while (i < n && isDigit(sql.charCodeAt(i))) i++
        sink('param', start, i)
        continue
      case COLON:
        if (isAsciiLetter(c1) || c1 === UNDERSCORE) {
          i += 2
          while (i < n && isIdentPart(sql.charCodeAt(i))) i++
          sink('param', start, i)
          continue
        }
        break
      case AT:
        if (sqlite && isIdentStart(c1)) {
          i += 2
          while (i < n && isIdentPart(sql.charCodeAt(i))) i++
          sink('param', start, i)
          continue
        }
        if (mysql) {
          let j = i + 1
          if (c1 === AT) j++
          if (j < n && isIdentPart(sql.charCodeAt(j))) {
            i = j + 1
            while (i < n && isIdentPart(sql.charCodeAt(i))) i++
            sink('word', start, i)
            continue
          }
        }
        break
    }

    i += operatorLength(c, c1, c2)
    sink('op', start, i)
  }
}

const POSTCOMPILE = '__[POSTCOMPILE_'

const LF = 10
const CR = 13
const SPACE = 32
const BANG = 33
const DQUOTE = 34
const HASH = 35
const DOLLAR = 36
const PERCENT = 37
const AMPERSAND = 38
const QUOTE = 39
const LPAREN = 40
const RPAREN = 41
const STAR = 42
const PLUS = 43
const COMMA = 44
const MINUS = 45
const DOT = 46
const SLASH = 47
const COLON = 58
const SEMICOLON = 59
const LT = 60
const EQ = 61
const GT = 62
const QUESTION = 63
const AT = 64
const LBRACKET = 91
const BACKSLASH = 92
const RBRACKET = 93
const UNDERSCORE = 95
const BACKTICK = 96
const LOWER_B = 98
const LOWER_E = 101
const LOWER_N = 110
const LOWER_S = 115
const LOWER_U = 117
const LOWER_X = 120
const PIPE = 124
const TILDE = 126
const DEL = 127

/** Rule 1: ASCII controls and space, DEL, and the Unicode spaces (NBSP, U+2000–U+200A, line separators, BOM...). */
function isSpace(c: number): boolean {
  if (c <= SPACE) return true
  if (c < 0x7f) return false
  return (
    c === DEL ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  )
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
}

/** Letters, `_`, and any non-ASCII character that is not a space. */
function isIdentStart(c: number): boolean {
  return isAsciiLetter(c) || c === UNDERSCORE || (c > DEL && !isSpace(c))
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === DOLLAR
}

/** Characters of a dollar-quote tag (`$tag$`): identifier characters without `$`. */
function isTagPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c)
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || ((c | 0x20) >= 97 && (c | 0x20) <= 102)
}

/**
 * Scans a quoted run whose opening quote is just before `i`; returns the index after the closing quote, or the input
 * length when it is unterminated. A doubled quote is an escaped quote; with `backslash`, `\x` escapes any character.
 */
function scanQuoted(sql: string, i: number, quote: number, backslash: boolean): number {
  const n = sql.length
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === quote) {
      if (i + 1 < n && sql.charCodeAt(i + 1) === quote) {
        i += 2
        continue
      }
      return i + 1
    }
    i += backslash && c === BACKSLASH ? 2 : 1
  }
  return n
}

/** Scans a block comment whose `/*` ends just before `i`; PostgreSQL nests them. */
function scanBlockComment(sql: string, i: number, nested: boolean): number {
  const n = sql.length
  let depth = 1
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === STAR && i + 1 < n && sql.charCodeAt(i + 1) === SLASH) {
      i += 2
      if (--depth === 0) return i
      continue
    }
    if (nested && c === SLASH && i + 1 < n && sql.charCodeAt(i + 1) === STAR) {
      i += 2
      depth++
      continue
    }
    i++
  }
  return n
}

/** Scans a number starting at `i` (a digit, or `.` before a digit); returns the index after it. */
function scanNumber(sql: string, i: number): number {
  const n = sql.length
  const c = sql.charCodeAt(i)
  if (c === 48 && i + 2 < n) {
    const radix = sql.charCodeAt(i + 1) | 0x20
    const d = sql.charCodeAt(i + 2)
    if (radix === LOWER_X && isHexDigit(d)) {
      i += 3
      while (i < n && (isHexDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === UNDERSCORE)) i++
      return i
    }
    if (radix === LOWER_B && (d === 48 || d === 49)) {
      i += 3
      while (i < n && (sql.charCodeAt(i) === 48 || sql.charCodeAt(i) === 49 || sql.charCodeAt(i) === UNDERSCORE)) i++
      return i
    }
    if (radix === 111 && d >= 48 && d <= 55) {
      i += 3
      while (i < n && ((sql.charCodeAt(i) >= 48 && sql.charCodeAt(i) <= 55) || sql.charCodeAt(i) === UNDERSCORE)) i++
      return i
    }
  }
  while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === UNDERSCORE)) i++
  if (i < n && sql.charCodeAt(i) === DOT) {
    i++
    while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === UNDERSCORE)) i++
  }
  if (i < n && (sql.charCodeAt(i) | 0x20) === LOWER_E) {
    const d = i + 1 < n ? sql.charCodeAt(i + 1) : 0
    if (isDigit(d)) {
      i += 2
    } else if ((d === PLUS || d === MINUS) && i + 2 < n && isDigit(sql.charCodeAt(i + 2))) {
      i += 3
    } else {
      return i
    }
    while (i < n && isDigit(sql.charCodeAt(i))) i++
  }
  return i
}

/** Rule 7: the length of the operator starting with `c c1 c2`, longest match of the multi-character operators. */
function operatorLength(c: number, c1: number, c2: number): number {
  switch (c) {
    case LT:
      if (c1 === EQ) return c2 === GT ? 3 : 2
      return c1 === GT || c1 === AT || c1 === LT ? 2 : 1
    case MINUS:
      if (c1 === GT) return c2 === GT ? 3 : 2
      return 1
    case HASH:
      if (c1 === GT) return c2 === GT ? 3 : 2
      return 1
    case BANG:
      if (c1 === TILDE) return c2 === STAR ? 3 : 2
      return c1 === EQ ? 2 : 1
    case COLON:
      return c1 === COLON || c1 === EQ ? 2 : 1
    case GT:
      return c1 === EQ || c1 === GT ? 2 : 1
    case PIPE:
      return c1 === PIPE ? 2 : 1
    case AT:
      return c1 === GT ? 2 : 1
    case AMPERSAND:
      return c1 === AMPERSAND ? 2 : 1
    case EQ:
      return c1 === GT ? 2 : 1
    case TILDE:
      return c1 === STAR ? 2 : 1
    default:
      return 1
  }
}
