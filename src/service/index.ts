// Wires the service to Nomad from configuration.
import type { Config } from '../config'
import { NomadClient } from '../nomad/client'
import { BuildService } from './build-service'
import { runReconciler } from './reconciler'

export function createService(config: Config): BuildService {
  return new BuildService(nomadClient(config), config)
}

export const nomadClient = (config: Config) =>
  new NomadClient({ address: config.nomadAddr, token: config.nomadToken, namespace: config.namespace })

/** The service with its reconciler running until `signal` aborts: what a server process runs. */
export function startService(config: Config, signal: AbortSignal): BuildService {
  const nomad = nomadClient(config)
  const service = new BuildService(nomad, config)
  void runReconciler(service, nomad, signal)
  return service
}
