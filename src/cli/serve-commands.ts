// `nbs serve`, `nbs health` and `nbs mcp --stdio`: the server and its probes.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import type { Command } from 'commander'
import { loadConfig } from '../config'
import { ServiceError } from '../errors'
import { createApp } from '../http/app'
import { createMcpServer } from '../mcp/server'
import type { UploadDirectory } from '../mcp/tools'
import type { Caller } from '../service/build-service'
import { ClientEntry, Clients } from '../service/clients'
import { connect, inProcess, serverUrl } from './connect'
import { uploadDirectory } from './upload'

/** "127.0.0.1:8080", "[::1]:8080", ":8080" → hostname and port. */
export function parseListen(listen: string): { hostname: string; port: number } {
  const i = listen.lastIndexOf(':')
  const host = i < 0 ? '127.0.0.1' : listen.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0'
  const port = Number(i < 0 ? listen : listen.slice(i + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--listen: expected host:port, got "${listen}"`)
  return { hostname: host, port }
}

const GRACE_MS = 10_000

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('Run the server: REST under /v1, MCP at /mcp, OpenAPI at /openapi.json, docs at /docs.')
    .option('--listen <host:port>', 'listen address (env NBS_LISTEN; default 127.0.0.1:8080)')
    .option('--clients <file>', 'client tokens (JSON, see src/service/clients.ts; env NBS_CLIENTS_FILE)')
    .option('--insecure-no-auth', 'serve without authentication: dev only (env NBS_AUTH=off; `nbs dev up` sets it)')
    .action(async (o: { listen?: string; clients?: string; insecureNoAuth?: boolean }) => {
      const config = loadConfig()
      const { hostname, port } = parseListen(o.listen ?? config.listen)
      const clientsFile = o.clients ?? config.clientsFile
      const noAuth = o.insecureNoAuth || config.authOff
      if (!clientsFile && !noAuth) {
        console.error('nbs: serve needs client tokens: give --clients FILE (or NBS_CLIENTS_FILE); for a dev server only, --insecure-no-auth (NBS_AUTH=off)')
        process.exit(2)
      }
      const clients = clientsFile ? Clients.load(clientsFile) : undefined
      const app = createApp(inProcess(new AbortController().signal), {
        authenticate: clients && ((h) => clients.authenticate(h)),
        sourceBytes: config.sources.maxBytes,
      }).listen({ hostname, port })
      if (!clients)
        console.error(
          '\n  *** nbs: AUTHENTICATION IS OFF (--insecure-no-auth / NBS_AUTH=off) ***\n' +
            '  *** every caller is anonymous and can see, kill and clean up every job: dev use only ***\n',
        )
      console.log(`nbs: listening on http://${hostname}:${app.server?.port ?? port} (nomad ${config.nomadAddr})`)
      let stopping = false
      const stop = async (signal: string) => {
        if (stopping) return
        stopping = true
        console.log(`nbs: ${signal}: stopping, letting requests in flight finish (up to ${GRACE_MS / 1000} s)`)
        // Jobs live in Nomad, so nothing is lost on stop; only open requests (wait, log streams) are cut after the grace.
        const timer = setTimeout(() => app.server?.stop(true), GRACE_MS)
        await app.server?.stop(false)
        clearTimeout(timer)
        process.exit(0)
      }
      process.on('SIGTERM', () => void stop('SIGTERM'))
      process.on('SIGINT', () => void stop('SIGINT'))
    })

  program
    .command('health')
    .description("Check that a server answers GET /healthz (exit 0 when it does): the container's HEALTHCHECK.")
    .action(async (_o: unknown, cmd: Command) => {
      const url = `${serverUrl(cmd.optsWithGlobals().server).replace(/\/+$/, '')}/healthz`
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
        console.log(`${url}: ${res.status}`)
        process.exitCode = res.ok ? 0 : 1
      } catch (e) {
        console.error(`${url}: ${(e as Error).message}`)
        process.exitCode = 1
      }
    })

  program
    .command('mcp')
    .description('Serve MCP on stdin/stdout for a local client: with the global --server, through that server; otherwise against Nomad directly, for one client named by --as.')
    .requiredOption('--stdio', 'speak MCP over stdio (the only transport of this command; /mcp on `nbs serve` is the HTTP one)')
    .option('--as <name>', 'without --server: the client whose jobs this serves, and who submits (env NBS_MCP_AS)')
    .option('--clients <file>', "without --server: the clients file that gives --as its secret prefixes and build limit (env NBS_CLIENTS_FILE)")
    .action(async (o: { stdio?: boolean; as?: string; clients?: string }, cmd: Command) => {
      // With the global --server, the tools go to that server; otherwise the service runs here.
      const server = cmd.optsWithGlobals().server as string | undefined
      const caller = server ? remoteCaller(o.as) : localCaller(o.as ?? process.env.NBS_MCP_AS, o.clients ?? loadConfig().clientsFile)
      const life = new AbortController()
      // The reconciler must not keep the process alive once the client has gone.
      process.stdin.on('end', () => life.abort())
      const api = server ? connect(server) : inProcess(life.signal)
      const mcp = createMcpServer(api, caller, server ? uploadToServer : refuseUpload)
      await mcp.connect(new StdioServerTransport())
      // stdout is the protocol; anything for a person goes to stderr.
      console.error(`nbs: MCP on stdio${caller.owner ? ` for ${caller.owner}` : ''}`)
    })
}

// sourcePath is relative to where the client started this process: the agent's project, as a rule.
const uploadToServer: UploadDirectory = (api, path, { context, dockerfile }) => uploadDirectory(api, resolve(path), 'sourcePath', { context, dockerfile })

/**
 * In this process the spool has no HTTP listener, so Nomad's client could not fetch an upload for
 * the build (the artifact block names a replica's URL): a server must take it.
 */
const refuseUpload: UploadDirectory = () =>
  Promise.reject(
    new ServiceError(
      'invalid_request',
      'sourcePath: this `nbs mcp --stdio` runs the service itself and serves no HTTP, so Nomad could not fetch an upload from it: run it through a server, `nbs --server URL mcp --stdio` (NBS_TOKEN for its token), or give repo',
      'sourcePath',
    ),
  )

function refuse(message: string): never {
  console.error(`nbs mcp: ${message}`)
  process.exit(2)
}

/** A server named by --server knows its caller by NBS_TOKEN: a name given here would mean nothing to it. */
function remoteCaller(as: string | undefined): Caller {
  if (as !== undefined) refuse('--as is for serving without --server; a server knows you by your token (NBS_TOKEN)')
  return {}
}

/**
 * In this process the service reaches Nomad with this process's own credentials, and would serve
 * every owner's jobs; a caller name scopes it to one client's, as a token does on a server.
 */
function localCaller(as: string | undefined, clientsFile: string | undefined): Caller {
  if (!as)
    refuse(
      'without --server this serves Nomad directly: name the client whose jobs it serves with --as NAME (env NBS_MCP_AS), its secret prefixes from --clients FILE (else NBS_SECRET_PREFIXES); or use a server: nbs --server URL mcp --stdio (with NBS_TOKEN)',
    )
  if (!clientsFile) {
    if (!Value.Check(ClientEntry.properties.name, as))
      refuse(`--as ${JSON.stringify(as)}: a client name is 1 to 63 lowercase letters, digits, _ and -, starting with a letter or digit`)
    return { owner: as }
  }
  const clients = Clients.load(clientsFile)
  return clients.byName(as) ?? refuse(`--as ${as}: ${clientsFile} has no client of that name (it has: ${clients.names.join(', ') || 'none'})`)
}
