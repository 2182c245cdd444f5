// Wires the service to Nomad from configuration.
import type { Config } from '../config'
import { NomadClient } from '../nomad/client'
import { BuildService } from './build-service'

export function createService(config: Config): BuildService {
  const nomad = new NomadClient({ address: config.nomadAddr, token: config.nomadToken, namespace: config.namespace })
  return new BuildService(nomad, config)
}
