// A two-node cluster beside the dev stack: nomadlite with -nodes 2 (each node its own ID, alloc
// root and host volume directory), a short heartbeat TTL so that a cut-off node is marked down in
// seconds, and a service with a short NBS_NODE_LOST_GRACE and its own reconciler. The stack's
// registry and Git server serve it. Only nomadlite can cut a node off on demand (its
// /v1/nomadlite/node/:node/partition endpoint), so a real Nomad agent skips these tests.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { nomadliteBinary, realNomad } from '../../src/dev/nomad-agent'
import { startDaemon, stopDaemon, waitFor } from '../../src/dev/process'
import { NomadClient } from '../../src/nomad/client'
import { BuildService } from '../../src/service/build-service'
import { runReconciler } from '../../src/service/reconciler'
import { profile, serviceEnv, stack } from './dev-stack'

export const HEARTBEAT_TTL_SECONDS = 2
export const NODE_LOST_GRACE_SECONDS = 8

/** Why this environment cannot run the cluster tests, or undefined when it can. */
export const clusterSkip = realNomad() ? 'a real Nomad agent cannot be cut off on demand' : profile !== 'raw_exec' ? 'the cluster runs raw_exec tasks' : undefined

export interface Cluster {
  nomad: NomadClient
  service: BuildService
  /** The cache volume's directory on the host: each node has its own below it. */
  cache: string
  nodes: { id: string; name: string }[]
  partition(node: string): Promise<void>
  heal(node: string): Promise<void>
  algorithm(name: 'binpack' | 'spread'): Promise<void>
  stop(): Promise<void>
}

export async function startCluster(): Promise<Cluster> {
  // Short: the Task API socket lies below it (nodes/<name>/alloc/<id>/<task>/secrets/api.sock).
  const state = mkdtempSync('/tmp/nbsc-')
  const cache = join(state, 'cache')
  mkdirSync(cache)
  const port = stack.ports.nomad + 2000
  const addr = `http://127.0.0.1:${port}`
  const bin = await nomadliteBinary(stack.paths, () => {})
  startDaemon(state, state, {
    name: 'cluster-agent',
    command: bin,
    args: [
      ...['agent', '-bind', '127.0.0.1', '-port', String(port), '-data-dir', join(state, 'd'), '-host-volume', `buildah-cache=${cache}`],
      ...['-nodes', '2', '-heartbeat-ttl', `${HEARTBEAT_TTL_SECONDS}s`, '-rpc-hold-timeout', '1s'],
    ],
  })
  const nomad = new NomadClient({ address: addr })
  await waitFor('the cluster agent', async () => (await nomad.nodes.list()).data.filter((n) => n.Status === 'ready').length === 2, 60_000, join(state, 'cluster-agent.log'))
  const service = new BuildService(nomad, loadConfig({ ...process.env, ...serviceEnv, NBS_NOMAD_ADDR: addr, NBS_NODE_LOST_GRACE: String(NODE_LOST_GRACE_SECONDS) }))
  const life = new AbortController()
  void runReconciler(service, nomad, life.signal, () => {})
  const nodes = (await nomad.nodes.list()).data.map((n) => ({ id: n.ID, name: n.Name })).sort((a, b) => a.name.localeCompare(b.name))
  const post = async (path: string, body?: unknown) => {
    const res = await fetch(`${addr}${path}`, { method: body ? 'PUT' : 'POST', body: body ? JSON.stringify(body) : undefined })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  }
  return {
    nomad,
    service,
    cache,
    nodes,
    partition: (node) => post(`/v1/nomadlite/node/${node}/partition`),
    heal: (node) => post(`/v1/nomadlite/node/${node}/heal`),
    algorithm: (name) => post('/v1/operator/scheduler/configuration', { SchedulerAlgorithm: name }),
    stop: async () => {
      life.abort()
      await stopDaemon(state, 'cluster-agent')
      // The agent unmounted its tasks' secrets/ when it stopped; the stores are root's to remove.
      rmSync(state, { recursive: true, force: true })
    },
  }
}
