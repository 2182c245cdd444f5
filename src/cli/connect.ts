// Which service the CLI talks to: for now the in-process service against Nomad.
import { loadConfig } from '../config'
import type { BuildApi } from '../service/api'
import { createService } from '../service/index'

export function connect(): BuildApi {
  return createService(loadConfig())
}
