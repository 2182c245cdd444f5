// MCP over Streamable HTTP at /mcp, stateless: a fresh server and transport per request, like the server itself.
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Elysia } from 'elysia'
import { createMcpServer } from '../mcp/server'
import type { BuildApi } from '../service/api'
import { isServiceError } from '../errors'
import { type Authenticate, noAuth } from './auth'
import { problemOf, problemResponse } from './problem'

/** A tools/call that asked for progress: its answer must be an SSE stream, so the notifications can go first. */
const wantsProgress = (body: unknown): boolean =>
  [body].flat().some((m) => {
    const params = (m as { method?: string; params?: { _meta?: { progressToken?: unknown } } } | null)?.params
    return (m as { method?: string } | null)?.method === 'tools/call' && params?._meta?.progressToken !== undefined
  })

export const mcpRoute = (api: BuildApi, authenticate: Authenticate = noAuth) =>
  new Elysia({ name: 'mcp' }).all(
    '/mcp',
    async ({ request }) => {
      let caller
      try {
        caller = authenticate(request.headers.get('authorization'))
      } catch (e) {
        // MCP's HTTP transport expects 401 for a missing or bad token (the client then asks for one).
        if (isServiceError(e)) return problemResponse(problemOf(e), { 'www-authenticate': 'Bearer' })
        throw e
      }
      // Unparseable bodies go to the transport as they came: it answers them with JSON-RPC's own errors.
      const body: unknown = request.method === 'POST' ? await request.clone().json().catch(() => undefined) : undefined
      // No session id: any server copy can answer any request (DESIGN.md: stateless server, N copies).
      // JSON answers, except where progress notifications must stream ahead of the result.
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !wantsProgress(body) })
      // A client that hangs up ends its call (waitForJob would otherwise wait out its timeout).
      request.signal.addEventListener('abort', () => void transport.close(), { once: true })
      await createMcpServer(api, caller).connect(transport)
      return transport.handleRequest(request, body === undefined ? undefined : { parsedBody: body })
    },
    // The transport reads the body itself.
    { parse: 'none', detail: { summary: 'MCP (Streamable HTTP, stateless)', tags: ['mcp'], hide: true } },
  )
