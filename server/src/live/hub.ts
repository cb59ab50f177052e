/**
 * The live stream (GET /api/v1/live): a ws server attached to the HTTP server's `upgrade` event. Sends `hello` on
 * connect, a `unit` message per committed unit, `cleared` after DELETE. A client may narrow the stream with
 * `{"type":"subscribe","units":[ids]}` (each subscribe replaces the previous set). Publishing never waits on a client:
 * a client whose socket holds more than `maxBufferedBytes` unsent bytes misses messages, and one that misses
 * `maxSkipped` in a row is terminated.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { HttpError } from '../errors.js'
import type { LiveServerMessage, UnitSummary } from '../protocol.js'

export const LIVE_PATH = '/api/v1/live'

export interface HubOptions {
  /** Throws an HttpError when the upgrade request may not connect (Host, Origin, token). */
  authorize?: (request: IncomingMessage, url: URL) => void
  /** Whether a new client starts with an empty subscription, seeing no unit until it subscribes (pages of other origins: the overlay). */
  startsNarrowed?: (request: IncomingMessage) => boolean
  /** The hello message for a new client. */
  hello: () => LiveServerMessage
  maxBufferedBytes?: number
  maxSkipped?: number
  /** Interval of the ping that finds dead peers; 0 turns it off. */
  heartbeatMs?: number
}

export interface HubStats {
  clients: number
  /** Clients whose stream is narrowed: they sent `subscribe`, or are pages of other origins (which start narrowed). */
  subscribed: number
  /** Messages not sent to slow clients. */
  skipped: number
  /** Clients dropped for being stuck or dead. */
  terminated: number
}

export interface Hub {
  /** The `upgrade` listener for the node HTTP server; answers non-live paths with 404. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void
  publishUnits(units: readonly UnitSummary[]): void
  publishCleared(): void
  stats(): HubStats
  /** Sends every client a close frame, waits up to `graceMs` for the handshakes, then terminates what is left. */
  close(graceMs?: number): Promise<void>
}

interface Client {
  ws: WebSocket
  units: Set<string> | null
  skippedInARow: number
  alive: boolean
}

const MAX_SUBSCRIBED = 10_000

function rejectUpgrade(socket: Duplex, status: number, code: string, message: string) {
  const body = JSON.stringify({ error: { code, message } })
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' }[status] ?? 'Error'
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

function parseSubscribe(data: WebSocket.RawData): string[] | null {
  try {
    const message = JSON.parse(data.toString()) as { type?: unknown; units?: unknown }
    if (message.type !== 'subscribe' || !Array.isArray(message.units)) return null
    return message.units.filter((id): id is string => typeof id === 'string').slice(0, MAX_SUBSCRIBED)
  } catch {
    return null
  }
}

export function createHub({ authorize = () => {}, startsNarrowed = () => false, hello, maxBufferedBytes = 1 << 20, maxSkipped = 200, heartbeatMs = 30_000 }: HubOptions): Hub {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024, perMessageDeflate: false })
  const clients = new Set<Client>()
  let skipped = 0
  let terminated = 0

  const drop = (client: Client) => {
    clients.delete(client)
    terminated++
    client.ws.terminate()
  }

  const send = (client: Client, data: string) => {
    if (client.ws.readyState !== WebSocket.OPEN) return
    if (client.ws.bufferedAmount > maxBufferedBytes) {
      skipped++
      if (++client.skippedInARow >= maxSkipped) drop(client)
      return
    }
    client.skippedInARow = 0
    client.ws.send(data)
  }

  wss.on('connection', (ws: WebSocket, request: IncomingMessage) => {
    const client: Client = { ws, units: startsNarrowed(request) ? new Set() : null, skippedInARow: 0, alive: true }
    clients.add(client)
    ws.on('message', (data) => {
      const units = parseSubscribe(data)
      if (units) client.units = new Set(units)
    })
    ws.on('pong', () => {
      client.alive = true
    })
    ws.on('close', () => clients.delete(client))
    ws.on('error', () => clients.delete(client))
    send(client, JSON.stringify(hello()))
  })

  const heartbeat =
    heartbeatMs > 0
      ? setInterval(() => {
          for (const client of clients) {
            if (!client.alive) drop(client)
            else {
              client.alive = false
              client.ws.ping()
            }
          }
        }, heartbeatMs).unref()
      : null

  return {
    handleUpgrade(request, socket, head) {
      socket.on('error', () => socket.destroy())
      let url: URL
      try {
        url = new URL(request.url ?? '/', 'http://querysight')
      } catch {
        return rejectUpgrade(socket, 400, 'bad_request', 'the upgrade request has an invalid URL')
      }
      if (url.pathname !== LIVE_PATH) return rejectUpgrade(socket, 404, 'not_found', `no WebSocket at ${url.pathname}; connect to ${LIVE_PATH}`)
      try {
        authorize(request, url)
      } catch (err) {
        if (err instanceof HttpError) return rejectUpgrade(socket, err.status, err.code, err.message)
        return rejectUpgrade(socket, 500, 'internal', 'internal server error; see the server log')
      }
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request))
    },

    publishUnits(units) {
      if (clients.size === 0) return
      for (const unit of units) {
        const data = JSON.stringify({ type: 'unit', unit } satisfies LiveServerMessage)
        for (const client of clients) {
          if (client.units === null || client.units.has(unit.id)) send(client, data)
        }
      }
    },

    publishCleared() {
      const data = JSON.stringify({ type: 'cleared' } satisfies LiveServerMessage)
      for (const client of clients) send(client, data)
    },

    stats: () => ({ clients: clients.size, subscribed: [...clients].filter((client) => client.units !== null).length, skipped, terminated }),

    async close(graceMs = 1000) {
      if (heartbeat) clearInterval(heartbeat)
      const open = [...clients].map((client) => client.ws)
      clients.clear()
      await new Promise<void>((done) => {
        let left = open.length
        const timer = setTimeout(done, graceMs)
        const closed = () => {
          if (--left === 0) {
            clearTimeout(timer)
            done()
          }
        }
        if (left === 0) {
          clearTimeout(timer)
          return done()
        }
        for (const ws of open) {
          ws.once('close', closed)
          ws.close(1001, 'querysight is shutting down')
        }
      })
      for (const ws of open) ws.terminate()
      wss.close()
    },
  }
}
