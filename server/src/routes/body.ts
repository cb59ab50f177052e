/** Reading a JSON request body within the §4 limits: Content-Type, gzip, size capped before and after decompression. @module */
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { HttpError, InvalidJsonError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js'

const gunzipAsync = promisify(gunzip)

const isJson = (contentType: string | null) => {
  const type = contentType?.split(';', 1)[0].trim().toLowerCase() ?? ''
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Buffer> {
  if (!body) return Buffer.alloc(0)
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw new PayloadTooLargeError(limit)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size)
}

/** Decompresses gzip with an output cap, so a small bomb cannot inflate past `limit`. */
async function gunzipCapped(data: Buffer, limit: number): Promise<Buffer> {
  try {
    return await gunzipAsync(data, { maxOutputLength: limit })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new PayloadTooLargeError(limit)
    throw new HttpError(400, 'invalid_gzip', `the body is not valid gzip (${(err as Error).message}); drop "Content-Encoding: gzip" or compress it correctly`)
  }
}

/** The decoded JSON body of `request`, or an HttpError (413, 415, 400) that says what to change. */
export async function readJsonBody(request: Request, { limit }: { limit: number }): Promise<unknown> {
  const contentType = request.headers.get('content-type')
  if (!isJson(contentType)) {
    throw new UnsupportedMediaTypeError(`Content-Type must be application/json, got ${contentType ? JSON.stringify(contentType) : 'none'}`)
  }
  const encoding = (request.headers.get('content-encoding') ?? 'identity').trim().toLowerCase()
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new UnsupportedMediaTypeError(`Content-Encoding ${JSON.stringify(encoding)} is not supported; send the body plain or with gzip`)
  }
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > limit) throw new PayloadTooLargeError(limit)
  let data = await readCapped(request.body, limit)
  if (encoding !== 'identity') data = await gunzipCapped(data, limit)
  try {
    return JSON.parse(data.toString('utf8'))
  } catch (err) {
    throw new InvalidJsonError((err as Error).message)
  }
}
