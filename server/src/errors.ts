/** One error class per kind of failure; each message says how to fix it. @module */

export type HttpStatus = 400 | 401 | 403 | 404 | 413 | 415 | 421 | 426 | 500 | 503 | 507

/** An error that maps to an HTTP answer with a JSON body `{"error": {code, message, path?}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: HttpStatus,
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

/** A field of an ingest payload (or a query parameter) that does not follow the protocol; `path` names the field. */
export class InvalidPayloadError extends HttpError {
  constructor(path: string, message: string) {
    super(400, 'invalid_payload', path ? `${path}: ${message}` : message, path)
  }
}

export class InvalidJsonError extends HttpError {
  constructor(detail: string) {
    super(400, 'invalid_json', `the body is not valid JSON (${detail}); send a JSON document as DESIGN.md §4 describes`)
  }
}

export class InvalidQueryError extends HttpError {
  constructor(param: string, message: string) {
    super(400, 'invalid_query', `query parameter ${param}: ${message}`, param)
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(limitBytes: number, what = 'the body') {
    super(413, 'payload_too_large', `${what} is larger than ${limitBytes / (1 << 20)} MiB after decompression; send fewer units per batch`)
  }
}

export class UnsupportedMediaTypeError extends HttpError {
  constructor(message: string) {
    super(415, 'unsupported_media_type', message)
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'this querysight server requires a token; send "Authorization: Bearer <token>" (agents: set QUERYSIGHT_TOKEN)') {
    super(401, 'unauthorized', message)
  }
}

export class ForbiddenHostError extends HttpError {
  constructor(host: string, allowed: string) {
    super(
      403,
      'forbidden_host',
      `Host "${host}" is not allowed (DNS rebinding protection); open querysight as ${allowed}, or start it with --host <that name>`,
    )
  }
}

export class ForbiddenOriginError extends HttpError {
  constructor(origin: string) {
    super(
      403,
      'forbidden_origin',
      `Origin "${origin}" may not use this endpoint; only the querysight UI itself and the origins agents report in app.origin are allowed`,
    )
  }
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} is already in use; start with --port <other> or stop the other querysight`)
  }
}

export class UsageError extends Error {}

/** The database file was written by a newer querysight than this one. */
export class DatabaseVersionError extends Error {
  constructor(path: string, found: number, known: number) {
    super(`${path} has schema version ${found} but this querysight knows only up to ${known}; upgrade querysight or start with --db <other file>`)
  }
}

/** The database file cannot be created or opened. */
export class DatabaseOpenError extends Error {
  constructor(path: string, reason: string) {
    super(`cannot open the database ${path} (${reason}); pass a writable --db <file>, or --db :memory: to keep nothing`)
  }
}

/** Writing to the database failed for a reason the user can fix (full disk, read-only file); agents retry later. */
export class DatabaseWriteError extends HttpError {
  constructor(path: string, sqliteCode: string) {
    const [status, code, reason, fix]: [HttpStatus, string, string, string] = sqliteCode === 'SQLITE_FULL'
      ? [507, 'disk_full', 'the disk holding it is full', 'free some space or lower --max-units']
      : sqliteCode.startsWith('SQLITE_READONLY')
        ? [503, 'database_read_only', 'it is read-only', 'make the file and its directory writable']
        : [503, 'database_unavailable', `the disk answered ${sqliteCode}`, 'check the disk']
    super(status, code, `cannot write to the database ${path}: ${reason}; ${fix}, or restart with --db <other file>. Nothing of this request was stored.`)
  }
}
