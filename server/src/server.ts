/** startServer(): listen on host:port with the app of app.ts; resolves once listening. @module */
import { serve } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { createApp } from './app.js'
import { PortInUseError } from './errors.js'

export interface ServerOptions {
  host?: string
  port?: number
}

export interface RunningServer {
  url: string
  port: number
  close: () => Promise<void>
}

export function startServer({ host = '127.0.0.1', port = 8321 }: ServerOptions = {}): Promise<RunningServer> {
  const app = createApp()
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      const shownHost = host.includes(':') ? `[${host}]` : host
      resolve({
        url: `http://${shownHost}:${info.port}`,
        port: info.port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      })
    })
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err))
  })
}
