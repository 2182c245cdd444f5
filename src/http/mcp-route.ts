// MCP over Streamable HTTP at /mcp, stateless: a fresh server and transport per request, like the server itself.
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Elysia } from 'elysia'
import { createMcpServer } from '../mcp/server'
import type { BuildApi } from '../service/api'

export const mcpRoute = (api: BuildApi) =>
  new Elysia({ name: 'mcp' }).all(
    '/mcp',
    async ({ request }) => {
      // No session id: any server copy can answer any request (DESIGN.md: stateless server, N copies).
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
      await createMcpServer(api).connect(transport)
      return transport.handleRequest(request)
    },
    // The transport reads the body itself.
    { parse: 'none', detail: { summary: 'MCP (Streamable HTTP, stateless)', tags: ['mcp'], hide: true } },
  )
