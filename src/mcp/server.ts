// The MCP server: tools/list and tools/call over any transport, with the service behind them.
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { CallToolRequestSchema, type CallToolResult, type CreateTaskResult, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js'
import { Value } from '@sinclair/typebox/value'
import pkg from '../../package.json'
import { isServiceError } from '../errors'
import { schemaErrors } from '../jobs/validate'
import type { BuildApi } from '../service/api'
import type { Caller } from '../service/build-service'
import { buildTaskStore, taskOf } from './tasks'
import { type CallContext, jsonSchema, mcpTools, type UploadDirectory } from './tools'

const failure = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] })

/**
 * `caller` is who the transport authenticated (the HTTP route's bearer token); stdio is the local
 * user. `upload`, on stdio only, lets submitJob take a directory of this machine (sourcePath).
 */
export function createMcpServer(api: BuildApi, caller: Caller = {}, upload?: UploadDirectory): Server {
  const tools = mcpTools(upload)
  const toolByName = new Map(tools.map((x) => [x.name, x]))
  const server = new Server(
    { name: 'nomad-build-service', version: pkg.version },
    {
      // Tasks are builds, read from Nomad: any replica answers tasks/get, tasks/result, tasks/list and tasks/cancel.
      capabilities: { tools: {}, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
      taskStore: buildTaskStore(api, caller),
      instructions:
        'Build, test and publish container images on Nomad. getServerInfo says what this server accepts (repo URLs, registries, secret prefixes, limits). submitJob returns a job id at once; waitForJob {until:"final"} follows it (call again while it says the job has not ended); or call submitJob as a task (the task id is the job id) and poll tasks/get, then tasks/result. On FAILED the text gives the failing step, exit code and last log lines, getLogs the full output of a phase.',
    },
  )
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    // The descriptions' examples are this server's own (its registries, the caller's secret prefixes).
    const info = await api.serverInfo(caller)
    return {
      tools: tools.map((t) => ({
        name: t.name,
        title: t.title,
        description: typeof t.description === 'string' ? t.description : t.description(info),
        annotations: t.annotations,
        inputSchema: jsonSchema(t.input),
        outputSchema: jsonSchema(t.output),
        ...(t.task ? { execution: { taskSupport: 'optional' as const } } : {}),
      })),
    }
  })
  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult | CreateTaskResult> => {
    const tool = toolByName.get(req.params.name)
    if (!tool) return failure(`unknown tool ${req.params.name}; the tools are ${tools.map((t) => t.name).join(', ')}`)
    const raw = req.params.arguments ?? {}
    const errors = schemaErrors(tool.input, raw)
    if (errors.length)
      return failure(`invalid arguments for ${tool.name}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`)
    // Decoding applies the schemas' transforms (a Nomad job id nbs-… becomes the job id).
    const args = Value.Decode(tool.input, raw)
    const token = req.params._meta?.progressToken
    const ctx: CallContext = {
      signal: extra.signal,
      caller,
      progress:
        token === undefined
          ? undefined
          : (p) => extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, ...p } }),
    }
    if (req.params.task && !tool.task) throw new McpError(ErrorCode.InvalidParams, `${tool.name} does not run as a task; only ${tools.filter((t) => t.task).map((t) => t.name).join(', ')} do`)
    try {
      const result = await tool.run(api, args as never, ctx)
      // A task-augmented call answers with the build as a task at once; the client polls it on any replica.
      if (req.params.task && tool.task) return { task: taskOf(await api.getStatus(tool.task.idOf(result as never), caller)) }
      return {
        content: [{ type: 'text', text: tool.summary(result as never, args as never) }],
        structuredContent: result as Record<string, unknown>,
      }
    } catch (e) {
      // Expected failures (no such job, a refused field, Nomad down) are results the agent can act on.
      if (isServiceError(e)) return failure(`${tool.name} failed (${e.code}): ${e.message}`)
      throw e
    }
  })
  return server
}
