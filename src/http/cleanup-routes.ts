// REST: /v1/cleanup — remove finished jobs from Nomad.
import { CloneType, Type as t } from '@sinclair/typebox'
import { Elysia } from 'elysia'
import type { BuildApi } from '../service/api'
import { CleanupQuery, CleanupResult } from '../service/schemas'
import { type Authenticate, callerOf, noAuth, security } from './auth'
import { Problem } from './problem'

export const cleanupRoutes = (api: BuildApi, authenticate: Authenticate = noAuth) =>
  new Elysia({ name: 'cleanup', prefix: '/v1' })
    .use(callerOf(authenticate))
    .post('/cleanup', async ({ body, caller }) => api.cleanup(body ?? {}, caller), {
    body: t.Optional(CloneType(CleanupQuery, { examples: [{ olderThanSeconds: 604800 }] })),
    response: { 200: CleanupResult, 400: Problem, 401: Problem, 404: Problem, 409: Problem, 415: Problem, 502: Problem, 503: Problem },
    detail: {
      summary: 'Remove finished jobs',
      description:
        'Say which: one job (id), the finished jobs older than olderThanSeconds, or every finished job (all: true); a body with none of them is refused. Running jobs are kept (kill them first).',
      tags: ['jobs'],
      security,
    },
  })
