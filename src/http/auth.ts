// Who is asking: the caller behind a request's Authorization header, for every route that touches jobs.
import { Elysia } from 'elysia'
import type { Caller } from '../service/build-service'

/** With client tokens configured, a bad or missing token throws the ServiceError that becomes a 401 problem. */
export type Authenticate = (authorization: string | null) => Caller

export const noAuth: Authenticate = () => ({})

/** OpenAPI: a bearer token, required only when the server has a clients file. */
export const security: Record<string, string[]>[] = [{}, { bearer: [] }]

/** `caller` in the context. derive runs before validation: a stranger is not even told which field is wrong. */
export const callerOf = (authenticate: Authenticate) =>
  new Elysia().derive({ as: 'scoped' }, ({ request }) => ({
    caller: authenticate(request.headers.get('authorization')),
  }))
