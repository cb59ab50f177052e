/**
 * Highlighting classes for SQL tokens from the project's one lexer (server/src/analysis/lexer.ts). The lexer says
 * what a token is; this module only decides how a bare word is painted (keyword, function or name). @module
 */
import type { Token } from '../../../server/src/analysis/lexer.js'

export type HighlightClass = 'kw' | 'fn' | 'name' | 'ident' | 'str' | 'num' | 'param' | 'op' | 'punct' | 'comment' | 'space'

const KEYWORDS = new Set(
  ('select from where and or not in is null join left right inner outer full cross natural on using as order by group ' +
    'having limit offset fetch first next rows only insert into values value update set delete create table alter drop ' +
    'index view distinct union intersect except all any some exists between like ilike glob regexp case when then else ' +
    'end asc desc nulls returning with recursive begin commit rollback savepoint release transaction for share nowait ' +
    'skip locked true false default primary key foreign references cascade constraint unique check if replace conflict ' +
    'do nothing lateral over partition window filter within escape interval cast collate to work declare cursor close ' +
    'move prepare execute deallocate pragma explain analyze vacuum no action restrict temporary temp column add rename')
    .split(' '),
)

/** The class of each token, by index: a bare word followed (after spaces) by `(` is a function unless it is a keyword. */
export function classify(tokens: readonly Token[]): HighlightClass[] {
  const classes: HighlightClass[] = new Array(tokens.length)
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]
    switch (token.kind) {
      case 'word': {
        const lower = token.text.toLowerCase()
        if (KEYWORDS.has(lower)) classes[i] = 'kw'
        else classes[i] = nextSolid(tokens, i)?.text === '(' ? 'fn' : 'name'
        break
      }
      case 'ident': classes[i] = 'ident'; break
      case 'string': classes[i] = 'str'; break
      case 'number': classes[i] = 'num'; break
      case 'param': classes[i] = 'param'; break
      case 'op': classes[i] = 'op'; break
      case 'punct': classes[i] = 'punct'; break
      case 'comment': classes[i] = 'comment'; break
      default: classes[i] = 'space'
    }
  }
  return classes
}

function nextSolid(tokens: readonly Token[], from: number): Token | undefined {
  for (let i = from + 1; i < tokens.length; i++) if (tokens[i].kind !== 'space') return tokens[i]
  return undefined
}

/** A run of tokens with one class, merged so long SQL renders as few elements as possible. */
export interface Span {
  cls: HighlightClass
  text: string
}

/** Tokens → spans of one class each; adjacent tokens of the same class (and spaces between them) merge. */
export function toSpans(tokens: readonly Token[]): Span[] {
  const classes = classify(tokens)
  const spans: Span[] = []
  for (let i = 0; i < tokens.length; i++) {
    const cls = classes[i]
    const last = spans[spans.length - 1]
    if (last && (last.cls === cls || cls === 'space')) last.text += tokens[i].text
    else spans.push({ cls, text: tokens[i].text })
  }
  return spans
}

/** SQL on one line for dense rows: runs of whitespace (newlines included) become one space. */
export function oneLine(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim()
}
