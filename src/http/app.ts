// The HTTP server: REST under /v1, MCP at /mcp, health, OpenAPI at /openapi.json, docs at /docs, the dashboard at /ui.
import { openapi } from '@elysiajs/openapi'
// Scalar's browser bundle, served by us (no CDN); `type: 'file'` embeds it in the compiled binary (a path either way).
// @ts-ignore -- a plain browser script with no type declarations; Bun's file loader makes it a path string.
import scalarBundle from '@scalar/api-reference/browser/standalone.js' with { type: 'file' }
import { Elysia } from 'elysia'
import pkg from '../../package.json'
import { DEFAULT_SOURCE_MB } from '../config'
import { isServiceError, ServiceError } from '../errors'
import type { BuildApi } from '../service/api'
import type { BuildService } from '../service/build-service'
import { MAX_BODY_BYTES } from '../service/server-info'
import { cleanupRoutes } from './cleanup-routes'
import type { Authenticate } from './auth'
import { healthRoutes } from './health-routes'
import { infoRoutes } from './info-routes'
import { jobsRoutes } from './jobs-routes'
import { mcpRoute } from './mcp-route'
import { unsupportedBody } from './media-type'
import { sourcesRoutes } from './sources-routes'
import { malformedJson, problemOf, problemResponse, validationProblem } from './problem'
import { uiRoutes } from './ui-routes'

type ScalarOptions = NonNullable<NonNullable<Parameters<typeof openapi>[0]>['scalar']>

export type ServerApi = BuildApi & Pick<BuildService, 'ready' | 'sourceArchive'>

const problemTypeBase = 'https://nomad-build-service.dev/problems/'

export interface AppOptions {
  /** Who is asking, from the Authorization header; without it every request is the same anonymous caller. */
  authenticate?: Authenticate
  /** The largest source upload (POST /v1/sources), bytes: the one body allowed past MAX_BODY_BYTES. */
  sourceBytes?: number
}

export function createApp(service: ServerApi, options: AppOptions = {}) {
  const auth = options.authenticate
  const sourceBytes = options.sourceBytes ?? DEFAULT_SOURCE_MB * 2 ** 20
  return (
    // normalize: false — otherwise Elysia strips unknown fields before validating, and a typo'd
    // field would be dropped silently instead of refused (the schemas say additionalProperties: false).
    // Bun.serve's own limit lets an upload through; the spool stops one at its limit and says so.
    new Elysia({ name: 'nbs', normalize: false, serve: { maxRequestBodySize: Math.max(MAX_BODY_BYTES, sourceBytes + 2 ** 20) } })
      // This says so in a problem, for every body but an upload (which the spool bounds itself).
      .onRequest(({ request }) => {
        const { pathname, search } = new URL(request.url)
        // Elysia answers /docs/ with the page too, but its relative bundle (docs/scalar.js) then resolves to
        // /docs/docs/scalar.js and nothing loads: send the browser to /docs.
        if (pathname === '/docs/') return new Response(null, { status: 301, headers: { location: `/docs${search}` } })
        const length = Number(request.headers.get('content-length') ?? 0)
        if (length > MAX_BODY_BYTES && pathname !== '/v1/sources')
          return problemResponse(
            problemOf(new ServiceError('too_large', `body: ${length} bytes is more than the ${MAX_BODY_BYTES} bytes a request may have`, 'body')),
          )
        const unsupported = unsupportedBody(request, pathname)
        if (unsupported) return problemResponse(problemOf(unsupported))
      })
      .use(
        openapi({
          path: '/docs',
          specPath: '/openapi.json',
          documentation: {
            info: {
              title: 'Nomad Build Service',
              version: pkg.version,
              description: 'Build, test and publish container images on HashiCorp Nomad. Errors are RFC 9457 problem details.',
            },
            components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Client token, when the server has a clients file.' } } },
            tags: [
              { name: 'jobs', description: 'Builds: submit, follow, read logs, kill, clean up.' },
              { name: 'sources', description: 'Upload a directory to build, instead of a Git repository.' },
              { name: 'server', description: 'What this server accepts: repo URLs, registries, secret prefixes, limits, defaults.' },
              { name: 'health', description: 'Liveness and readiness.' },
            ],
          },
          exclude: { paths: ['/mcp'] },
          // Everything from this server: the bundle at /docs/scalar.js (relative to /docs, like the document), no web
          // fonts, and none of the buttons that lead to Scalar's hosted services (AI agent, toolbar, developer tools).
          // (The plugin's type wants Scalar's whole parsed configuration, of an older Scalar without showToolbar or agent;
          // Scalar fills in the defaults itself.)
          scalar: ({
            cdn: 'docs/scalar.js',
            withDefaultFonts: false,
            telemetry: false,
            agent: { disabled: true },
            showToolbar: 'never',
            showDeveloperTools: 'never',
          } satisfies Partial<ScalarOptions> & { showToolbar: 'never'; agent: { disabled: boolean } }) as unknown as ScalarOptions,
        }),
      )
      .get('/docs/scalar.js', () => new Response(Bun.file(scalarBundle as string), { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=86400' } }), { detail: { hide: true } })
      .onError({ as: 'global' }, ({ code, error }) => {
        if (isServiceError(error))
          return problemResponse(problemOf(error), error.retryAfter ? { 'Retry-After': String(error.retryAfter) } : {})
        if (code === 'PARSE') return problemResponse(malformedJson(error instanceof Error ? error.message : String(error)))
        if (code === 'VALIDATION') {
          if (error.type === 'response') return internal(`the server produced an invalid response: ${error.message}`)
          return problemResponse(validationProblem(error.type, error.validator, error.value))
        }
        if (code === 'NOT_FOUND')
          return problemResponse({ type: `${problemTypeBase}not_found`, title: 'Not found', status: 404, detail: 'no such route' })
        return internal(error instanceof Error ? error.message : String(error))
      })
      .use(healthRoutes(service))
      .use(jobsRoutes(service, auth))
      .use(cleanupRoutes(service, auth))
      .use(infoRoutes(service, auth))
      .use(sourcesRoutes(service, auth))
      .use(mcpRoute(service, auth))
      .use(uiRoutes())
  )
}

const internal = (detail: string) =>
  problemResponse({ type: `${problemTypeBase}internal`, title: 'Internal server error', status: 500, detail })

export type App = ReturnType<typeof createApp>
