// Following a build's task logs until each task is dead and its bytes are read. Nomad's follow
// stream never ends by itself (conformance: follow-dead-task), so each task's stream is closed
// here once a blocking query on the allocation shows the task dead.
import type { NomadClient } from '../nomad/client'
import type { Allocation, TaskState } from '../nomad/types'

export interface LogChunk {
  task: string
  text: string
}

/** What the follower asks the service about the job while it waits for a task to start. */
export interface FollowTarget {
  jobId: string
  /** True once the task can no longer start (skipped, or the job ended without an allocation). */
  willNeverStart(task: string, alloc: Allocation | undefined): Promise<boolean>
}

// A docker task's log is copied out of the engine by a logger process, so it can still grow a
// little after the task is dead (conformance: docker-driver): read until a pause adds nothing.
const SETTLE_MS = 300

const started = (ts: TaskState | undefined) => !!ts && (ts.State !== 'pending' || (!!ts.StartedAt && !ts.StartedAt.startsWith('0001-')))

export class LogFollower {
  constructor(private readonly nomad: NomadClient) {}

  /** Every task's output as it is written; parallel tasks interleave, none waits for another to end. */
  follow(target: FollowTarget, tasks: string[], signal?: AbortSignal): AsyncGenerator<LogChunk> {
    return merge(tasks.map((task) => this.followTask(target, task, signal)))
  }

  private async *followTask(target: FollowTarget, task: string, signal?: AbortSignal): AsyncGenerator<LogChunk> {
    const alloc = await this.whenStarted(target, task, signal)
    if (!alloc) return
    const decoder = new TextDecoder()
    let read = 0
    const until = new AbortController()
    const stop = () => until.abort()
    signal?.addEventListener('abort', stop, { once: true })
    const dead = this.whenDead(alloc, task, until.signal).then(stop, stop)
    try {
      for await (const bytes of this.nomad.fs.follow(alloc.ID, task, 'stdout', { signal: until.signal })) {
        read += bytes.byteLength
        const text = decoder.decode(bytes, { stream: true })
        if (text) yield { task, text }
      }
    } catch (e) {
      if (!until.signal.aborted) throw e
    } finally {
      stop()
      signal?.removeEventListener('abort', stop)
      await dead
    }
    if (signal?.aborted) return
    // What was written between the last chunk and the close, and what a slow logger still adds.
    for (;;) {
      const rest = await this.nomad.fs.logBytes(alloc.ID, task, 'stdout', { fromByte: read, signal })
      read += rest.byteLength
      const text = decoder.decode(rest, { stream: true })
      if (text) yield { task, text }
      if (rest.byteLength === 0) break
      await Bun.sleep(SETTLE_MS)
    }
    const tail = decoder.decode()
    const err = await this.nomad.fs.logs(alloc.ID, task, 'stderr', { signal })
    if (tail || err) yield { task, text: tail + err }
  }

  /** The allocation once the task has started; undefined when it never will. */
  private async whenStarted(target: FollowTarget, task: string, signal?: AbortSignal): Promise<Allocation | undefined> {
    let index = 0
    for (;;) {
      const { data: stubs, meta } = await this.nomad.jobs.allocations(target.jobId, { waitIndex: index, waitTime: '5s', signal })
      const newest = stubs.sort((a, b) => b.ModifyIndex - a.ModifyIndex)[0]
      const alloc = newest ? (await this.nomad.allocations.info(newest.ID, { signal })).data : undefined
      if (alloc && started(alloc.TaskStates?.[task])) return alloc
      if (await target.willNeverStart(task, alloc)) return undefined
      if (signal?.aborted) return undefined
      index = meta.lastIndex
    }
  }

  private async whenDead(alloc: Allocation, task: string, signal: AbortSignal): Promise<void> {
    let index = 0
    for (;;) {
      const { data, meta } = await this.nomad.allocations.info(alloc.ID, { waitIndex: index, waitTime: '5s', signal })
      if (data.TaskStates?.[task]?.State === 'dead' || signal.aborted) return
      index = meta.lastIndex
    }
  }
}

/** Interleaves several async generators, yielding each value as soon as its source has it. */
async function* merge<T>(sources: AsyncGenerator<T>[]): AsyncGenerator<T> {
  const next = (s: AsyncGenerator<T>, i: number) => s.next().then((r) => ({ r, i }))
  const pending = new Map(sources.map((s, i) => [i, next(s, i)]))
  try {
    while (pending.size > 0) {
      const { r, i } = await Promise.race(pending.values())
      if (r.done) pending.delete(i)
      else {
        pending.set(i, next(sources[i] as AsyncGenerator<T>, i))
        yield r.value
      }
    }
  } finally {
    // Not awaited: a source may sit in a blocking query, and return() waits for it.
    for (const [i] of pending) void sources[i]?.return(undefined).catch(() => undefined)
  }
}
