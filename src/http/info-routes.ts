// REST: /v1/info — what this server accepts (the MCP getServerInfo tool's twin).
import { Elysia } from 'elysia'
import type { BuildApi } from '../service/api'
import { ServerInfo } from '../service/schemas'
import { type Authenticate, callerOf, noAuth, security } from './auth'
import { Problem } from './problem'

export const infoRoutes = (api: BuildApi, authenticate: Authenticate = noAuth) =>
  new Elysia({ name: 'info', prefix: '/v1' })
    .use(callerOf(authenticate))
    .get('/info', async ({ caller }) => api.serverInfo(caller), {
      response: { 200: ServerInfo, 401: Problem },
      detail: {
        summary: 'What this server accepts',
        description:
          'From its own configuration, for the caller: repo URL forms, registries pushed to over plain HTTP, the secret prefixes the caller may use, the profile, limits and defaults.',
        tags: ['server'],
        security,
      },
    })
