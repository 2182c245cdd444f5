// Nomad's placement metrics (FailedTGAllocs) said in words a caller can act on.
import type { AllocationMetric, Job, NodeListStub, Task, TaskGroup } from '../nomad/types'

const tasksOf = (job: Job) => job.TaskGroups.flatMap((g) => g.Tasks)

function constraintWords(key: string, job: Job): string {
  if (key === 'missing drivers') {
    const drivers = [...new Set(tasksOf(job).map((t) => t.Driver))].join(', ')
    return `no node has the ${drivers} driver`
  }
  if (key === 'missing devices') {
    const devices = [...new Set(tasksOf(job).flatMap((t) => t.Resources?.Devices ?? []).map((d) => d.Name))]
    return `no node has a free ${devices.join(', ') || 'device of the kind asked for'}`
  }
  if (key === 'missing compatible host volumes') {
    const volumes = job.TaskGroups.flatMap((g) => Object.values(g.Volumes ?? {}).map((v) => `"${v.Source}"`))
    return `no node has the host volume ${volumes.join(', ')}`
  }
  return `no node satisfies the constraint ${key}`
}

function dimensionWords(dimension: string, job: Job): string {
  const tasks = tasksOf(job)
  if (dimension === 'memory') {
    const asked = Math.max(...tasks.map((t) => t.Resources?.MemoryMB ?? 0))
    return `not enough memory: asked ${asked} MB`
  }
  if (dimension === 'cpu') {
    const asked = Math.max(...tasks.map((t) => t.Resources?.CPU ?? 0))
    return `not enough CPU: asked ${asked} MHz`
  }
  return `not enough ${dimension} on any node`
}

export interface Ask {
  memoryMB: number
  cpu: number
}

const sum = (tasks: Task[]): Ask => ({
  memoryMB: tasks.reduce((n, t) => n + (t.Resources?.MemoryMB ?? 0), 0),
  cpu: tasks.reduce((n, t) => n + (t.Resources?.CPU ?? 0), 0),
})

/**
 * The most a group holds at any one time. Nomad does not add up phases that never run at once
 * (conformance: busy-node): prestart tasks, then main tasks with sidecars, then poststop tasks.
 */
export function peakAsk(group: TaskGroup): Ask {
  const sidecars = group.Tasks.filter((t) => t.Lifecycle?.Sidecar)
  const phase = (hook?: string) => group.Tasks.filter((t) => !t.Lifecycle?.Sidecar && t.Lifecycle?.Hook === hook)
  const phases = [sum([...phase('prestart'), ...sidecars]), sum([...phase(undefined), ...phase('poststart'), ...sidecars]), sum(phase('poststop'))]
  return { memoryMB: Math.max(...phases.map((p) => p.memoryMB)), cpu: Math.max(...phases.map((p) => p.cpu)) }
}

const capacity = (n: NodeListStub): Ask => ({
  memoryMB: (n.NodeResources?.Memory?.MemoryMB ?? 0) - (n.ReservedResources?.Memory?.MemoryMB ?? 0),
  cpu: (n.NodeResources?.Cpu?.CpuShares ?? 0) - (n.ReservedResources?.Cpu?.CpuShares ?? 0),
})

/** The largest ready node of the job's pool, said in words, for a build that asks more than any has. */
export function largestNode(job: Job, nodes: NodeListStub[]): string | undefined {
  const pool = job.NodePool ?? 'default'
  const inPool = nodes.filter((n) => n.Status === 'ready' && (n.NodePool ?? 'default') === pool).map(capacity)
  if (inPool.length === 0) return `no ready node in pool "${pool}"`
  const memoryMB = Math.max(...inPool.map((c) => c.memoryMB))
  const cpu = Math.max(...inPool.map((c) => c.cpu))
  return `the largest node of pool "${pool}" has ${memoryMB} MB of memory and ${cpu} MHz of CPU`
}

/**
 * Whether a placement that failed for want of memory or CPU only has to wait: some ready node of
 * the job's pool could hold the group once other allocations end. Nomad words "busy now" and
 * "never" alike (DimensionExhausted), so only the nodes' capacity tells them apart.
 */
export function waitsForCapacity(metric: AllocationMetric, job: Job, nodes: NodeListStub[]): { waitingFor: string; nodePool: string } | undefined {
  if ((metric.NodesExhausted ?? 0) === 0) return undefined
  const pool = job.NodePool ?? 'default'
  const group = job.TaskGroups[0]
  if (!group) return undefined
  const ask = peakAsk(group)
  const fits = nodes.filter(
    (n) => n.Status === 'ready' && n.SchedulingEligibility === 'eligible' && (n.NodePool ?? 'default') === pool,
  ).filter((n) => {
    const c = capacity(n)
    return c.memoryMB >= ask.memoryMB && c.cpu >= ask.cpu
  })
  if (fits.length === 0) return undefined
  const short = Object.keys(metric.DimensionExhausted ?? {})
  const words = short.map((d) => (d === 'memory' ? `memory (${ask.memoryMB} MB at once)` : d === 'cpu' ? `CPU (${ask.cpu} MHz at once)` : d))
  return {
    waitingFor: `${words.join(' and ') || 'capacity'}: ${fits.length} node(s) of pool "${pool}" can hold the build once running allocations finish`,
    nodePool: pool,
  }
}

/** One sentence per cause found in the metric; empty when the metric names none. */
export function placementCauses(metric: AllocationMetric, job: Job): string[] {
  const causes = [
    ...Object.keys(metric.ConstraintFiltered ?? {}).map((k) => constraintWords(k, job)),
    ...Object.keys(metric.DimensionExhausted ?? {}).map((k) => dimensionWords(k, job)),
  ]
  if (causes.length === 0 && (metric.NodesEvaluated ?? 0) === 0) causes.push('no node is ready in the job datacenters')
  return [...new Set(causes)]
}
