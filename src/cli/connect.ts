// Which service the CLI talks to: the server over REST (--server, NBS_SERVER, or the default listen address).
import { loadConfig } from '../config'
import type { BuildApi } from '../service/api'
import { startService } from '../service/index'
import { HttpBuildApi } from './http-client'

/** The server's base URL: the --server flag, else NBS_SERVER, else http://NBS_LISTEN (default http://127.0.0.1:8080). */
export const serverUrl = (flag?: string) => flag ?? loadConfig().serverUrl

/** The token, if the server wants one, comes from NBS_TOKEN (never a flag: flags land in shell history). */
export function connect(server?: string): BuildApi {
  return new HttpBuildApi(serverUrl(server), process.env.NBS_TOKEN || undefined)
}

/**
 * The service in this process, against Nomad directly (`nbs serve`, `nbs mcp --stdio` without
 * --server), with its reconciler running for the life of the process.
 */
export function inProcess(life: AbortSignal) {
  return startService(loadConfig(), life)
}
