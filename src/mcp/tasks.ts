// Builds as MCP Tasks (protocol 2025-11-25, the SDK's experimental tasks): the task is the build,
// its id the build's id, and every answer is read from Nomad, so any replica answers for any
// task; nothing is kept in memory.
import type { TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js'
import type { CallToolResult, Task } from '@modelcontextprotocol/sdk/types.js'
import { isServiceError } from '../errors'
import { isFinal, type JobStatus } from '../jobs/status-schema'
import type { BuildApi } from '../service/api'
import type { Caller } from '../service/build-service'
import { statusText } from './summary'

// How often a client should look again: a hello-world build moves phase every second or two.
const POLL_MS = 2000
const LIST_PAGE = 50

/** The build's state as a task's: running phases are working, an ended build completed (or cancelled, when it was killed). */
export function taskOf(s: JobStatus): Task {
  const times = [s.createdAt, ...s.tasks.flatMap((t) => [t.startedAt, t.finishedAt]), s.finishedAt].filter((x): x is string => !!x).sort()
  const base = { taskId: s.id, ttl: null, createdAt: s.createdAt, lastUpdatedAt: times.at(-1) ?? s.createdAt, pollInterval: POLL_MS }
  if (!isFinal(s.status)) return { ...base, status: 'working', statusMessage: workingMessage(s) }
  if (s.failure?.reason === 'killed') return { ...base, status: 'cancelled', statusMessage: s.failure.message }
  return { ...base, status: 'completed', statusMessage: s.status === 'SUCCEEDED' ? `SUCCEEDED: ${s.result?.digest}` : `FAILED (${s.failure?.reason}): ${s.failure?.message}` }
}

function workingMessage(s: JobStatus): string {
  if (s.status === 'PENDING') return s.queue ? `PENDING: waiting for ${s.queue.waitingFor}` : 'PENDING: waiting for a node'
  const running = s.tasks.filter((t) => t.state === 'running').map((t) => t.task)
  return `${s.status}${running.length ? `: ${running.join(', ')} running` : ''}`
}

/** What tasks/result answers: the final getStatus result, the build's failure in it. */
export const taskResult = (s: JobStatus): CallToolResult => ({
  content: [{ type: 'text', text: statusText(s) }],
  structuredContent: s as unknown as Record<string, unknown>,
})

/** The caller's builds as a TaskStore the SDK's tasks/get, tasks/result, tasks/list and tasks/cancel handlers read. */
export function buildTaskStore(api: BuildApi, caller: Caller): TaskStore {
  const status = async (taskId: string) => {
    try {
      return await api.getStatus(taskId, caller)
    } catch (e) {
      // Another owner's build, or none: the task does not exist for this caller.
      if (isServiceError(e) && (e.code === 'not_found' || e.code === 'invalid_request')) return null
      throw e
    }
  }
  return {
    // Tasks are builds: submitJob makes them (server.ts), never the store.
    createTask: async () => {
      throw new Error('a task is a build: call submitJob with a task to create one')
    },
    getTask: async (taskId) => {
      const s = await status(taskId)
      return s && taskOf(s)
    },
    // A build's result is Nomad's to keep (and its record's): nothing to store.
    storeTaskResult: async () => {},
    getTaskResult: async (taskId) => {
      const s = await status(taskId)
      if (!s) throw new Error(`no build ${taskId}`)
      return taskResult(s)
    },
    // tasks/cancel kills the build; the SDK has refused it already for an ended one.
    updateTaskStatus: async (taskId, to) => {
      if (to === 'cancelled') await api.killJob(taskId, caller)
    },
    listTasks: async (cursor) => {
      const limit = LIST_PAGE + Number(cursor ?? 0)
      const { jobs } = await api.listJobs({ limit }, caller)
      const page = jobs.slice(Number(cursor ?? 0))
      const tasks = await Promise.all(page.map(async (j) => (await status(j.id)) ?? undefined))
      return {
        tasks: tasks.filter((s): s is JobStatus => !!s).map(taskOf),
        ...(jobs.length === limit ? { nextCursor: String(limit) } : {}),
      }
    },
  }
}
