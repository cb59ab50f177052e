/**
 * The UI and the overlay bundle from the built `dist/ui/`: `/` (index.html), `/assets/*`, `/overlay.js`. Files are
 * revalidated with an ETag on each load (their names carry no hash). Only `overlay.js` may be loaded cross-origin:
 * pages of the developer's app include it with a script tag.
 * @module
 */
import { Hono, type Context } from 'hono'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'
import { HttpError, NotFoundError } from '../errors.js'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

async function sendFile(c: Context, root: string, relative: string, headers: Record<string, string> = {}) {
  const file = resolve(root, relative)
  if (file !== root && !file.startsWith(root + sep)) throw new NotFoundError(`no file ${relative}`)
  const info = await stat(file).catch(() => null)
  if (!info?.isFile()) {
    if (relative === 'index.html') throw new HttpError(503, 'ui_not_built', `the UI is not built (no ${file}); run "npm run build" or "make build"`)
    throw new NotFoundError(`no file ${relative} in the UI bundle`)
  }
  const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`
  const common = { ETag: etag, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', ...headers }
  if (c.req.header('if-none-match') === etag) return c.body(null, 304, common)
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream'
  return c.body(await readFile(file), 200, { ...common, 'Content-Type': type })
}

const safeDecode = (path: string) => {
  try {
    return decodeURIComponent(path)
  } catch {
    return path
  }
}

export const staticRoutes = ({ uiDir }: { uiDir: string }) => {
  const root = resolve(uiDir)
  const page = { 'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'", 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer' }
  return new Hono()
    .get('/', (c) => sendFile(c, root, 'index.html', page))
    .get('/index.html', (c) => sendFile(c, root, 'index.html', page))
    .get('/overlay.js', (c) => sendFile(c, root, 'overlay.js', { 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' }))
    .get('/assets/*', (c) => sendFile(c, root, join('assets', safeDecode(c.req.path.slice('/assets/'.length)))))
}
