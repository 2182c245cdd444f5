// A build's tasks, spelled once: the job is rendered from this plan, the status is read along
// it, and the logs are followed by it.
import type { JobRequest, TestCommand } from './request'
import type { Phase } from './status-schema'

/** One test task: its name, how it runs, and what a person reads as its command. */
export interface PlannedTest {
  task: string
  mode: 'shell' | 'exec' | 'entrypoint'
  command: string
}

/** One task of the build, in the order Nomad runs them: build, the tests, publish. */
export interface PlannedTask {
  task: string
  phase: Phase
  command?: string
}

const describeCommand = (c: TestCommand): string => (typeof c === 'string' ? c : JSON.stringify(c))

export function planTests(request: JobRequest): PlannedTest[] {
  const commands = request.test?.commands ?? []
  const planned: PlannedTest[] = commands.map((c, i) => ({
    task: `test-${i}`,
    mode: typeof c === 'string' ? 'shell' : 'exec',
    command: describeCommand(c),
  }))
  if (request.test?.entrypoint)
    planned.push({ task: `test-${planned.length}`, mode: 'entrypoint', command: "the image's ENTRYPOINT/CMD" })
  return planned
}

export function planTasks(request: JobRequest): PlannedTask[] {
  return [
    { task: 'build', phase: 'build' },
    ...planTests(request).map((t) => ({ task: t.task, phase: 'test' as const, command: t.command })),
    { task: 'publish', phase: 'publish' },
  ]
}

/** The registry part of an image reference, by the rule Docker uses to tell a host from a path. */
export function registryOf(image: string): string {
  const first = image.split('/')[0] ?? ''
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io'
}

const tagsOf = (id: string, request: JobRequest): string[] => request.tags ?? [id]
export const destinations = (id: string, request: JobRequest): string[] =>
  tagsOf(id, request).map((tag) => `${request.image}:${tag}`)
