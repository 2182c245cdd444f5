// Nomad's placement metrics (FailedTGAllocs) said in words a caller can act on.
import type { AllocationMetric, Job } from '../nomad/types'

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

/** One sentence per cause found in the metric; empty when the metric names none. */
export function placementCauses(metric: AllocationMetric, job: Job): string[] {
  const causes = [
    ...Object.keys(metric.ConstraintFiltered ?? {}).map((k) => constraintWords(k, job)),
    ...Object.keys(metric.DimensionExhausted ?? {}).map((k) => dimensionWords(k, job)),
  ]
  if (causes.length === 0 && (metric.NodesEvaluated ?? 0) === 0) causes.push('no node is ready in the job datacenters')
  return [...new Set(causes)]
}
