/** One error class per kind of failure; each message says how to fix it. @module */

/** An error that maps to an HTTP answer with a JSON body `{"error": {code, message, path?}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 413 | 415 | 421 | 500 | 503,
    readonly code: string,
    message: string,
    readonly path?: string,
  ) {
    super(message)
  }
}

export class NotFoundError extends HttpError {
  constructor(message: string) {
    super(404, 'not_found', message)
  }
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} is already in use; start with --port <other> or stop the other querysight`)
  }
}

export class UsageError extends Error {}
