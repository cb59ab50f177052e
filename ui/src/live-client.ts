/** The live socket: connects, parses messages, and reconnects by itself with backoff. @module */
import type { LiveServerMessage } from '../../server/src/protocol.js'
import { reconnectDelay } from './lib/backoff.js'

export type LiveStatus = 'connecting' | 'live' | 'reconnecting'

export interface LiveHandlers {
  onMessage(message: LiveServerMessage): void
  onStatus(status: LiveStatus): void
  /** Called on every successful (re)connection, before its first message; the place to catch up. */
  onOpen(reconnected: boolean): void
}

export interface LiveConnection {
  close(): void
}

export function connectLive(
  url: string,
  handlers: LiveHandlers,
  { delay = reconnectDelay, Socket = globalThis.WebSocket }: { delay?: (attempt: number) => number; Socket?: typeof WebSocket } = {},
): LiveConnection {
  let socket: WebSocket | null = null
  let attempt = 0
  let opened = false
  let closed = false
  let timer: ReturnType<typeof setTimeout> | null = null

  const open = () => {
    timer = null
    handlers.onStatus(opened ? 'reconnecting' : 'connecting')
    const ws = new Socket(url)
    socket = ws
    ws.onopen = () => {
      attempt = 0
      handlers.onOpen(opened)
      opened = true
      handlers.onStatus('live')
    }
    ws.onmessage = (event) => {
      let message: LiveServerMessage
      try {
        message = JSON.parse(String(event.data)) as LiveServerMessage
      } catch {
        return
      }
      handlers.onMessage(message)
    }
    ws.onclose = () => {
      if (socket !== ws) return
      socket = null
      if (closed) return
      handlers.onStatus('reconnecting')
      timer = setTimeout(open, delay(attempt++))
    }
    ws.onerror = () => ws.close()
  }

  open()
  return {
    close() {
      closed = true
      if (timer) clearTimeout(timer)
      socket?.close()
      socket = null
    },
  }
}
