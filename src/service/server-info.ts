// What this server accepts, from its own configuration: so an agent learns the rules before it is refused.
import pkg from '../../package.json'
import type { Config } from '../config'
import { defaults, limits } from '../jobs/request'
import { repoForms } from '../jobs/validate'
import type { Caller } from './build-service'
import { type ServerInfo, WAIT_SECONDS } from './schemas'

/** The largest request body accepted: a build request is a few KiB; anything near this is an attack or a mistake. */
export const MAX_BODY_BYTES = 256 * 1024

export function serverInfo(config: Config, caller: Caller): ServerInfo {
  const maxInFlight = caller.maxInFlight ?? config.maxInFlight
  return {
    version: pkg.version,
    profile: config.profile,
    repo: { forms: repoForms(config.allowInsecureGit) },
    registries: { insecure: config.insecureRegistries },
    secrets: { prefixes: [...(caller.secretPrefixes ?? config.secretPrefixes)] },
    limits: {
      bodyBytes: MAX_BODY_BYTES,
      requestBytes: limits.requestBytes,
      testCommands: limits.testCommands,
      commandChars: limits.commandChars,
      tags: limits.tags,
      buildArgs: limits.buildArgs,
      testEnv: limits.testEnv,
      gpus: limits.gpus,
      phaseSeconds: limits.phaseSeconds,
      waitSeconds: WAIT_SECONDS.maximum,
      cpu: { ...limits.cpu },
      memory: { ...limits.memory },
      ...(maxInFlight ? { maxInFlight } : {}),
      sourceBytes: config.sources.maxBytes,
      sourceSeconds: config.sources.ttlSeconds,
    },
    defaults: {
      timeouts: { build: defaults.buildTimeout, test: defaults.testTimeout, publish: defaults.publishTimeout },
      resources: { cpu: defaults.cpu, memory: defaults.memory },
      waitSeconds: WAIT_SECONDS.default,
    },
    ...(config.gpuNodePool ? { gpuNodePool: config.gpuNodePool } : {}),
  }
}
