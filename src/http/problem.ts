// RFC 9457 problem details: the one error shape of the REST API, and how errors become it.
import type { TSchema } from '@sinclair/typebox'
import { Type as t } from '@sinclair/typebox'
import { type ErrorCode, ServiceError } from '../errors'
import { type FieldError, schemaErrors } from '../jobs/validate'
import { QueryName } from './query'

export const PROBLEM_TYPE = 'application/problem+json'
const TYPE_BASE = 'https://nomad-build-service.dev/problems/'

export const Problem = t.Object(
  {
    type: t.String({ description: 'URI naming the kind of problem; its last segment is the service error code.' }),
    title: t.String(),
    status: t.Integer(),
    detail: t.String({ description: 'What went wrong, for a person or an agent to act on.' }),
    field: t.Optional(t.String({ description: 'The first field at fault, e.g. test.commands[0] or query.tail.' })),
    errors: t.Optional(t.Array(t.Object({ field: t.String(), message: t.String() }))),
  },
  { description: 'RFC 9457 problem details (application/problem+json).' },
)

export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  field?: string
  errors?: FieldError[]
}

const titles: Record<ErrorCode, string> = {
  invalid_request: 'Invalid request',
  not_found: 'Not found',
  conflict: 'Conflict',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  too_large: 'Request too large',
  unsupported_media_type: 'Unsupported media type',
  too_many_requests: 'Too many builds in flight',
  insufficient_storage: 'Source spool full',
  nomad_unavailable: 'Nomad unavailable',
  nomad_error: 'Nomad error',
  server_unavailable: 'Server unavailable',
}

export const problemOf = (e: ServiceError): ProblemBody => ({
  type: TYPE_BASE + e.code,
  title: titles[e.code],
  status: e.status,
  detail: e.message,
  ...(e.field ? { field: e.field } : {}),
  // ServiceError messages read "field: what"; the errors list names the field separately.
  errors: e.details ? [...e.details] : e.field ? [{ field: e.field, message: e.message.replace(`${e.field}: `, '') }] : [],
})

export const problemResponse = (p: ProblemBody, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(p), { status: p.status, headers: { 'content-type': PROBLEM_TYPE, ...headers } })

/** A problem back into the ServiceError it came from (the CLI's HTTP client uses this). */
export function errorOfProblem(p: Partial<ProblemBody>, status: number): ServiceError {
  const code = (p.type?.startsWith(TYPE_BASE) ? p.type.slice(TYPE_BASE.length) : undefined) as ErrorCode | undefined
  const known = code && code in titles ? code : codeOfStatus(status)
  return new ServiceError(known, p.detail ?? p.title ?? `HTTP ${status}`, p.field, p.errors)
}

function codeOfStatus(status: number): ErrorCode {
  const byStatus: Record<number, ErrorCode> = {
    400: 'invalid_request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not_found',
    409: 'conflict',
    429: 'too_many_requests',
    507: 'insufficient_storage',
    413: 'too_large',
    415: 'unsupported_media_type',
    422: 'invalid_request',
    503: 'nomad_unavailable',
  }
  return byStatus[status] ?? 'nomad_error'
}

/** The schema behind an Elysia validator (a TypeCheck, Elysia's own check, or the schema itself). */
const schemaOfValidator = (v: unknown): TSchema | undefined =>
  v && typeof v === 'object' ? ('schema' in v ? (v as { schema: TSchema }).schema : (v as TSchema)) : undefined

/**
 * Elysia's validation failure as a problem naming each field. `where` is body, query or params;
 * body fields are named as in the request ("test.commands[0]"), the others with their location ("query.tail").
 */
export function validationProblem(where: string, validator: unknown, value: unknown): ProblemBody {
  const schema = schemaOfValidator(validator)
  const name = schema?.[QueryName as unknown as string] as string | undefined
  if (where === 'property' && name) where = `query.${name}`
  const raw = schema ? schemaErrors(schema, value) : []
  const errors = (raw.length ? raw : [{ field: '(body)', message: 'does not match the schema' }]).map((e) =>
    where === 'body' ? e : { field: e.field === '(body)' ? where : `${where}.${e.field}`, message: e.message },
  )
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ')
  return { type: `${TYPE_BASE}invalid_request`, title: titles.invalid_request, status: 400, detail, field: errors[0]?.field, errors }
}

export const malformedJson = (why: string): ProblemBody => ({
  type: `${TYPE_BASE}invalid_request`,
  title: titles.invalid_request,
  status: 400,
  detail: `(body): the body is not valid JSON: ${why}`,
  field: '(body)',
  errors: [{ field: '(body)', message: `not valid JSON: ${why}` }],
})
