// REST: /v1/sources — upload a directory to build (a tar or tar.gz), and the archive Nomad's client fetches for the build.
import { Elysia, t } from 'elysia'
import type { ServerApi } from './app'
import { type Authenticate, callerOf, noAuth, security } from './auth'
import { Problem } from './problem'
import { SourceUpload } from '../service/schemas'
import { buildIdOfRef, jobRefPattern } from '../jobs/ids'

const tags = ['sources']

export const sourcesRoutes = (api: ServerApi, authenticate: Authenticate = noAuth) =>
  new Elysia({ name: 'sources', prefix: '/v1/sources' })
    // Fetched by Nomad's client, which holds the build's own token, not a client's: checked against the job.
    .get(
      '/:hex/archive',
      ({ params, query, request }) => api.sourceArchive(params.hex, buildIdOfRef(query.build), request.headers.get('authorization')),
      {
        params: t.Object({ hex: t.String({ pattern: '^[0-9a-f]{64}$' }) }),
        query: t.Object({ build: t.String({ pattern: jobRefPattern }) }),
        detail: {
          summary: "An uploaded source's archive, for the build that names it",
          description:
            "Fetched by Nomad's client for the build task (the job's artifact block), with the bearer token that build's job carries; anyone else gets 403, and a source this replica does not hold 404.",
          tags,
          // Nomad's client is its only caller, with a build's token: not an operation for people.
          hide: true,
        },
      },
    )
    .use(callerOf(authenticate))
    .post(
      '',
      async ({ request, status, caller }) => {
        const length = request.headers.get('content-length')
        return status(201, await api.uploadSource(request.body, caller, length === null ? undefined : Number(length)))
      },
      {
        // The body is streamed to the spool as it arrives, never parsed or held in memory.
        parse: 'none',
        response: { 201: SourceUpload, 400: Problem, 401: Problem, 413: Problem, 507: Problem },
        detail: {
          summary: 'Upload a directory to build',
          description:
            'The body is a tar or tar.gz of the directory (entries relative to it; symlinks kept; no absolute paths, .. parts, hard links or devices). Answers the id to give as `source` in a build request, which you alone may use until it expires. Over the size limit (GET /v1/info: limits.sourceBytes) it answers 413 at once. `nbs upload DIR` packs and sends a directory, honouring its .dockerignore.',
          tags,
          security,
        },
      },
    )
