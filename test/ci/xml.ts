/**
 * A small strict XML parser for the tests of the JUnit report: it accepts a well-formed document (prolog, elements,
 * attributes, text, the five entities and character references, comments) and throws on anything else: unclosed or
 * mismatched tags, a raw `<` or `&` in text, a `<` in an attribute, a repeated attribute, characters XML 1.0 forbids.
 * @module
 */

export interface XmlElement {
  name: string
  attrs: Record<string, string>
  children: XmlElement[]
  /** The element's own text, entities decoded (text of children not included). */
  text: string
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/
const FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

export function parseXml(source: string): XmlElement {
  if (FORBIDDEN.test(source)) throw new Error(`character not allowed in XML at ${source.search(FORBIDDEN)}`)
  let pos = 0
  const fail = (message: string): never => {
    throw new Error(`${message} at offset ${pos}: ${JSON.stringify(source.slice(pos, pos + 30))}`)
  }
  const skipSpace = () => {
    while (pos < source.length && /\s/.test(source[pos])) pos++
  }
  const decode = (raw: string): string =>
    raw.replace(/&([^;]*);?/g, (match, body: string) => {
      if (!match.endsWith(';')) return fail(`unterminated entity ${match}`)
      if (body.startsWith('#x')) return String.fromCodePoint(parseInt(body.slice(2), 16))
      if (body.startsWith('#')) return String.fromCodePoint(parseInt(body.slice(1), 10))
      if (!(body in ENTITIES)) return fail(`unknown entity &${body};`)
      return ENTITIES[body]
    })
  const skipMisc = () => {
    for (;;) {
      skipSpace()
      if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos)
        if (end === -1) fail('unclosed comment')
        pos = end + 3
      } else return
    }
  }

  if (source.startsWith('<?xml', pos)) {
    const end = source.indexOf('?>', pos)
    if (end === -1) fail('unclosed XML declaration')
    pos = end + 2
  }
  skipMisc()

  const element = (): XmlElement => {
    if (source[pos] !== '<') fail('expected <')
    pos++
    const name = NAME.exec(source.slice(pos))?.[0] ?? fail('expected an element name')
    pos += name.length
    const node: XmlElement = { name, attrs: {}, children: [], text: '' }
    for (;;) {
      const before = pos
      skipSpace()
      if (source.startsWith('/>', pos)) {
        pos += 2
        return node
      }
      if (source[pos] === '>') {
        pos++
        break
      }
      if (pos === before) fail('expected a space before an attribute')
      const attr = NAME.exec(source.slice(pos))?.[0] ?? fail('expected an attribute name')
      pos += attr.length
      if (source[pos] !== '=') fail('expected =')
      pos++
      const quote = source[pos]
      if (quote !== '"' && quote !== "'") fail('expected a quoted attribute value')
      const end = source.indexOf(quote, pos + 1)
      if (end === -1) fail('unclosed attribute value')
      const raw = source.slice(pos + 1, end)
      if (raw.includes('<')) fail('raw < in an attribute value')
      if (attr in node.attrs) fail(`repeated attribute ${attr}`)
      node.attrs[attr] = decode(raw)
      pos = end + 1
    }
    for (;;) {
      const next = source.indexOf('<', pos)
      if (next === -1) fail(`unclosed element <${name}>`)
      const raw = source.slice(pos, next)
      if (raw.includes(']]>')) fail(']]> in text')
      node.text += decode(raw)
      pos = next
      if (source.startsWith('</', pos)) {
        pos += 2
        const closing = NAME.exec(source.slice(pos))?.[0]
        if (closing !== name) fail(`</${closing}> closes <${name}>`)
        pos += name.length
        skipSpace()
        if (source[pos] !== '>') fail('expected >')
        pos++
        return node
      }
      if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos)
        if (end === -1) fail('unclosed comment')
        pos = end + 3
        continue
      }
      node.children.push(element())
    }
  }

  const root = element()
  skipMisc()
  if (pos !== source.length) fail('content after the root element')
  return root
}

/** Every descendant element with this name, in document order. */
export function findAll(node: XmlElement, name: string): XmlElement[] {
  return node.children.flatMap((child) => [...(child.name === name ? [child] : []), ...findAll(child, name)])
}
