// A body must say it is JSON: without Content-Type: application/json, Elysia parses it as text or a
// form, and the request is refused for fields it never had ("image: is required; {…}: unknown field").
import { ServiceError } from '../errors'

/** Bodies that are not JSON: an upload is a tar or tar.gz, and the MCP transport checks its own requests. */
const ownBodies = new Set(['/v1/sources', '/mcp'])

/**
 * Whether a Content-Type names JSON: application/json, with or without parameters (charset). Spelled
 * so: Elysia's parser matches the type case-sensitively, and would read Application/JSON as text.
 */
export const isJson = (contentType: string | null) => contentType?.split(';')[0]?.trim() === 'application/json'

/** The 415 for a request whose body is not declared JSON, or undefined when it is (or has no body, or takes its own). */
export function unsupportedBody(request: Request, pathname: string): ServiceError | undefined {
  if (request.body === null || request.headers.get('content-length') === '0' || ownBodies.has(pathname)) return undefined
  const type = request.headers.get('content-type')
  if (isJson(type)) return undefined
  return new ServiceError(
    'unsupported_media_type',
    `content-type: the body must be JSON, sent with Content-Type: application/json (got ${type ? type.slice(0, 100) : 'none'})`,
    'content-type',
  )
}
