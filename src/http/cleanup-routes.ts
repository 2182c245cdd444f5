// REST: /v1/cleanup — remove finished jobs from Nomad.
import { Type as t } from '@sinclair/typebox'
import { Elysia } from 'elysia'
import type { BuildApi } from '../service/api'
import { CleanupQuery, CleanupResult } from '../service/schemas'
import { type Authenticate, callerOf, noAuth, security } from './auth'
import { Problem } from './problem'

export const cleanupRoutes = (api: BuildApi, authenticate: Authenticate = noAuth) =>
  new Elysia({ name: 'cleanup', prefix: '/v1' })
    .use(callerOf(authenticate))
    .post('/cleanup', async ({ body, caller }) => api.cleanup(body ?? {}, caller), {
    body: t.Optional(CleanupQuery),
    response: { 200: CleanupResult, 400: Problem, 401: Problem, 404: Problem, 409: Problem, 502: Problem, 503: Problem },
    detail: {
      summary: 'Remove finished jobs',
      description: 'One job (id), or every finished job older than olderThanSeconds. Running jobs are kept (kill them first).',
      tags: ['jobs'],
      security,
    },
  })
