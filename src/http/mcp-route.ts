// MCP over Streamable HTTP at /mcp, stateless: a fresh server and transport per request, like the server itself.
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Elysia } from 'elysia'
import { createMcpServer } from '../mcp/server'
import type { BuildApi } from '../service/api'
import { isServiceError } from '../errors'
import { type Authenticate, noAuth } from './auth'
import { problemOf, problemResponse } from './problem'

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
      // No session id: any server copy can answer any request (DESIGN.md: stateless server, N copies).
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
      await createMcpServer(api, caller).connect(transport)
      return transport.handleRequest(request)
    },
    // The transport reads the body itself.
    { parse: 'none', detail: { summary: 'MCP (Streamable HTTP, stateless)', tags: ['mcp'], hide: true } },
  )
