// Liveness (/healthz: the process answers) and readiness (/readyz: Nomad answers too).
import { Type as t } from '@sinclair/typebox'
import { Elysia } from 'elysia'
import type { BuildService } from '../service/build-service'

const Health = t.Object({ ok: t.Boolean(), reason: t.Optional(t.String()) })

export const healthRoutes = (service: Pick<BuildService, 'ready'>) =>
  new Elysia({ name: 'health' })
    .get('/healthz', () => ({ ok: true }), {
      response: { 200: Health },
      detail: { summary: 'Liveness', description: 'The server process answers.', tags: ['health'] },
    })
    .get(
      '/readyz',
      async ({ status }) => {
        const r = await service.ready()
        return r.ok ? { ok: true } : status(503, { ok: false, reason: `nomad: ${r.reason ?? 'unreachable'}` })
      },
      {
        response: { 200: Health, 503: Health },
        detail: { summary: 'Readiness', description: 'Nomad is reachable (503 with the reason when not).', tags: ['health'] },
      },
    )
