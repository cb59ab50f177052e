/**
 * §10 rules shared by HTTP requests and WebSocket upgrades: which Host names the server answers to (DNS rebinding),
 * which cross-origin pages may read (agents' `app.origin`), and the optional bearer token.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { hostname as osHostname, networkInterfaces } from 'node:os'
import { ForbiddenHostError, ForbiddenOriginError, UnauthorizedError } from './errors.js'

export interface SecurityOptions {
  /** The address the server was started on (`--host`); its name is accepted as a Host too. */
  host?: string
  /** When set, the API requires `Authorization: Bearer <token>` (or `?token=` on the WebSocket). */
  token?: string | null
  /** Page origins reported by agents (`app.origin`): allowed for CORS on GET /api/v1/units/:id and the live socket. */
  isKnownOrigin?: (origin: string) => boolean
}

export interface Security {
  /** Throws ForbiddenHostError unless `hostHeader` names a loopback address or the configured host. */
  checkHost(hostHeader: string | undefined): void
  /** Throws UnauthorizedError when a token is configured and neither the header nor `queryToken` carries it. */
  checkToken(authorization: string | undefined, queryToken?: string | null): void
  /** The origin to echo in Access-Control-Allow-Origin, or null when `origin` may not read cross-origin. */
  corsOrigin(origin: string | undefined): string | null
  /** Throws ForbiddenOriginError unless `origin` is absent (not a browser), this server's own, or a known agent origin. */
  checkOrigin(origin: string | undefined, hostHeader: string | undefined): void
  /** Whether `origin` is this server itself, as addressed by `hostHeader`. */
  isSameOrigin(origin: string, hostHeader: string | undefined): boolean
  readonly tokenRequired: boolean
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', ''])

/** `Example.COM:8321` → `example.com`; `[::1]:80` → `::1`. */
export function hostName(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase()
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    return end < 0 ? host : host.slice(1, end)
  }
  const colon = host.indexOf(':')
  const name = colon < 0 ? host : host.slice(0, colon)
  return name.endsWith('.') ? name.slice(0, -1) : name
}

/** Whether a bind address or host name stays on this machine. */
export const isLoopbackHost = (host: string) => isLoopbackName(hostName(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host))

const isLoopbackName = (name: string) =>
  name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)

/** The names a server bound to `host` answers to besides loopback: the host itself, or every local address when bound to all. */
function configuredNames(host: string): Set<string> {
  const names = new Set<string>()
  if (!WILDCARDS.has(host)) {
    names.add(hostName(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host))
    return names
  }
  const own = osHostname().toLowerCase()
  names.add(own)
  names.add(`${own}.local`)
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) names.add(address.address.toLowerCase())
  }
  return names
}

const digest = (text: string) => createHash('sha256').update(text).digest()

export function createSecurity({ host = '127.0.0.1', token = null, isKnownOrigin = () => false }: SecurityOptions = {}): Security {
  const extraNames = configuredNames(host)
  const tokenDigest = token ? digest(token) : null
  const shownHost = WILDCARDS.has(host) || isLoopbackName(hostName(host)) ? '127.0.0.1' : host

  const isSameOrigin = (origin: string, hostHeader: string | undefined) => {
    if (!hostHeader) return false
    try {
      return new URL(origin).host === new URL(`http://${hostHeader}`).host
    } catch {
      return false
    }
  }

  return {
    tokenRequired: tokenDigest !== null,

    checkHost(hostHeader) {
      const name = hostHeader ? hostName(hostHeader) : ''
      if (name && (isLoopbackName(name) || extraNames.has(name))) return
      throw new ForbiddenHostError(hostHeader ?? '(none)', `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:<port>/`)
    },

    checkToken(authorization, queryToken = null) {
      if (!tokenDigest) return
      const match = authorization ? /^Bearer\s+(.+?)\s*$/i.exec(authorization) : null
      const offered = match?.[1] ?? queryToken
      if (!offered) throw new UnauthorizedError()
      if (!timingSafeEqual(digest(offered), tokenDigest)) {
        throw new UnauthorizedError('the token does not match the one this querysight server was started with (--token or QUERYSIGHT_TOKEN)')
      }
    },

    corsOrigin(origin) {
      return origin && isKnownOrigin(origin) ? origin : null
    },

    checkOrigin(origin, hostHeader) {
      if (origin === undefined || isSameOrigin(origin, hostHeader) || isKnownOrigin(origin)) return
      throw new ForbiddenOriginError(origin)
    },

    isSameOrigin,
  }
}
