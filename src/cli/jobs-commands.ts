// The job commands: submit, status, logs, kill, cleanup, list, wait.
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { ServiceError } from '../errors'
import { isFinal, type JobStatus } from '../jobs/status-schema'
import { literalValues } from '../jobs/validate'
import type { BuildApi } from '../service/api'
import { SETTLE_SECONDS, settled } from '../service/wait'
import { JobState, Phase } from '../service/schemas'
import { connect } from './connect'
import { inFlagWords, oneOf, wholeNumber as int } from './flags'
import { jobTable, statusText, TaskLines } from './print'
import { flagNames, localSource, requestFromFlags, type SubmitFlags } from './request-options'
import { humanSize, progressReporter, uploadDirectory, type UploadOptions } from './upload'

const collect = (v: string, acc: string[] = []) => [...acc, v]

// The allowed values come from the schemas the server checks: commander refuses others naming the flag.
const states = literalValues(JobState) ?? []
const phases = literalValues(Phase) ?? []

const idArg = { 'params.id': '<id>' }

const show = (s: JobStatus, json?: boolean) => console.log(json ? JSON.stringify(s) : statusText(s))

/** Follows a job to its end, printing each status change; returns the final status. */
async function follow(api: BuildApi, id: string, json?: boolean): Promise<JobStatus> {
  let status = await api.getStatus(id)
  const started = Date.now()
  const say = (s: JobStatus) => {
    if (!json) console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${s.status}`)
  }
  say(status)
  while (!isFinal(status.status)) {
    const next = await api.waitForJob({ id, timeoutSeconds: 60 })
    if (next.status !== status.status) say(next)
    status = next
  }
  // Found final on the first look: the wait holds a final answer until its tasks have ended.
  return settled(status) ? status : api.waitForJob({ id, until: 'final', timeoutSeconds: SETTLE_SECONDS })
}

/** Packs and uploads `dir`, telling a person how it goes on stderr (stdout stays the command's answer). */
async function upload(api: BuildApi, dir: string, name: string, options: UploadOptions) {
  const progress = progressReporter()
  const skipped = (path: string, why: string) => console.error(`nbs: left out ${path}: ${why} cannot be sent`)
  try {
    const r = await uploadDirectory(api, dir, name, { ...options, onProgress: progress.onProgress, onSkip: skipped })
    console.error(`uploaded ${humanSize(r.size)} (${r.source})`)
    return r
  } finally {
    progress.end()
  }
}

export function registerJobCommands(program: Command, api: () => BuildApi = connect): void {
  program
    .command('submit')
    .description('Submit a build: clone (or upload a directory), build, test, publish.')
    .argument('[dir]', 'a directory to build: packed, honouring its .dockerignore, and uploaded (as --source DIR)')
    .option('-f, --file <path>', 'request as a YAML or JSON file (flags override its fields; its source: may name a directory, relative to the file)')
    .option('--repo <url>', 'Git repository (https://, ssh://, git@host:path)')
    .option('--source <dir|id>', 'a directory to upload and build instead of --repo, or the id `nbs upload` printed')
    .option('--include-git', 'with a directory: send its .git too (left out by default)')
    .option('--ref <ref>', 'branch, tag or commit (default: the default branch)')
    .option('--context <dir>', 'build context inside the repository or directory (only it is uploaded)')
    .option('--dockerfile <path>', 'Dockerfile path inside the context')
    .option('--build-arg <NAME=VALUE>', 'build argument (repeatable)', collect)
    .option('--target <stage>', 'multi-stage target')
    .option('--test <command>', 'test command run in the image by /bin/sh -c (repeatable)', collect)
    .option('--entrypoint-test', "run the image's ENTRYPOINT/CMD as a test")
    .option('--test-env <NAME=VALUE>', 'environment for the tests (repeatable)', collect)
    .option('--test-timeout <seconds>', 'time limit of each test command', int)
    .option('--image <repository>', 'image repository without tag, e.g. 127.0.0.1:5000/team/app')
    .option('--tag <tag>', 'tag to push (repeatable; default: the job id)', collect)
    .option('--cpu <mhz>', 'CPU per task, MHz', int)
    .option('--memory <mb>', 'memory per task, MB', int)
    .option('--wait', 'follow the job to its end; exit 0 only on SUCCEEDED')
    .option('--json', 'print JSON (with --wait, the last line is the final status)')
    .action(async (dir: string | undefined, o: SubmitFlags & { wait?: boolean; json?: boolean }) => {
      const client = api()
      const flags = { ...o, dir }
      const request = requestFromFlags(flags)
      const names = flagNames(flags, request)
      const local = localSource(request)
      if (local) {
        const options = { context: request.context as string | undefined, dockerfile: request.dockerfile as string | undefined, includeGit: flags.includeGit }
        request.source = (await inFlagWords(names, () => upload(client, local, names.source ?? 'source', options))).source
      }
      const submitted = await inFlagWords(names, () => client.submitJob(request))
      if (!flags.wait) {
        const id = submitted.id
        console.log(
          flags.json
            ? JSON.stringify(submitted)
            : [
                `submitted ${id} (${submitted.status}); it pushes ${submitted.images.join(', ')} if every test passes`,
                'next:',
                `  nbs wait ${id}           follow it to the end (exit 0 only on SUCCEEDED)`,
                `  nbs logs ${id} --follow  stream its output`,
                `  nbs status ${id}         where it is now`,
              ].join('\n'),
        )
        return
      }
      if (!flags.json) console.log(`submitted ${submitted.id}`)
      const final = await follow(client, submitted.id, flags.json)
      show(final, flags.json)
      process.exitCode = final.status === 'SUCCEEDED' ? 0 : 1
    })

  program
    .command('upload <dir>')
    .description("Pack a directory (honouring its .dockerignore) and upload it to build later: prints the id to give as source (nbs submit --source ID, or source: in a request file).")
    .option('--context <dir>', 'only this sub-directory, the build context, filtered by its own .dockerignore (submit with the same --context)')
    .option('--dockerfile <path>', 'Dockerfile path inside the context: sent even if .dockerignore names it')
    .option('--include-git', 'send .git too (left out by default)')
    .option('--json', 'print the whole answer as JSON: source, size, expiresAt')
    .action(async (dir: string, o: { context?: string; dockerfile?: string; includeGit?: boolean; json?: boolean }) => {
      const r = await inFlagWords({ context: '--context' }, () => upload(api(), resolve(dir), '<dir>', o))
      console.log(o.json ? JSON.stringify(r) : r.source)
    })

  program
    .command('status <id>')
    .description("Show a job's status, phases, failure or result.")
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => show(await inFlagWords(idArg, () => api().getStatus(id)), o.json))

  program
    .command('wait <id>')
    .description('Follow a job to its end; exit 0 only on SUCCEEDED.')
    .option('--json', 'print the final status as JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const final = await inFlagWords(idArg, () => follow(api(), id, o.json))
      show(final, o.json)
      process.exitCode = final.status === 'SUCCEEDED' ? 0 : 1
    })

  program
    .command('logs <id>')
    .description("Print a job's logs, task by task.")
    .addOption(oneOf('--phase <phase>', 'only this phase', phases))
    .option('--task <task>', 'one task: build, test-N or publish')
    .option('--tail <lines>', 'last N lines of each task (0: all)', int, 200)
    .option('--grep <text>', 'only lines containing text (case-insensitive), or matching /regex/flags')
    .option('--failed-only', 'only the tasks that failed')
    .option('-F, --follow', 'stream the output while the job runs, each line prefixed with its task')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { phase?: Phase; task?: string; tail: number; grep?: string; failedOnly?: boolean; follow?: boolean; json?: boolean }) => {
      const client = api()
      const names = { ...idArg, 'query.task': '--task', 'query.tail': '--tail', 'query.grep': '--grep', grep: '--grep' }
      if (o.follow) {
        const lines = new TaskLines()
        await inFlagWords(names, async () => {
          for await (const chunk of client.followLogs({ id, phase: o.phase, task: o.task })) process.stdout.write(lines.push(chunk.task, chunk.text))
        })
        process.stdout.write(lines.flush())
        return
      }
      const logs = await inFlagWords(names, () => client.getLogs({ id, phase: o.phase, task: o.task, tail: o.tail, grep: o.grep, failedOnly: o.failedOnly }))
      if (o.json) return console.log(JSON.stringify(logs))
      for (const l of logs.logs) {
        console.log(`=== ${l.task} (${l.state})${l.truncated ? ' [earlier lines left out]' : ''}`)
        if (l.text) process.stdout.write(l.text.endsWith('\n') ? l.text : `${l.text}\n`)
      }
    })

  program
    .command('kill <id>')
    .description('Stop a running job; nothing is published.')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => show(await inFlagWords(idArg, () => api().killJob(id)), o.json))

  program
    .command('cleanup [id]')
    .description('Remove finished jobs from Nomad: one (id), those older than --older-than, or --all.')
    .option('--older-than <seconds>', 'the finished jobs created longer ago than this', int)
    .option('--all', 'every finished job')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, o: { olderThan?: number; all?: boolean; json?: boolean }) => {
      if (!id && o.olderThan === undefined && !o.all)
        throw new ServiceError('invalid_request', 'cleanup: say which finished jobs to remove: a job id, --older-than SECONDS, or --all', 'all')
      const names = { id: '[id]', olderThanSeconds: '--older-than' }
      const r = await inFlagWords(names, () => api().cleanup({ id, olderThanSeconds: o.olderThan, all: o.all }))
      if (o.json) return console.log(JSON.stringify(r))
      console.log(`removed ${r.removed.length}${r.removed.length ? `: ${r.removed.join(', ')}` : ''}`)
      for (const k of r.kept) console.log(`kept ${k.id}: ${k.reason}`)
    })

  program
    .command('list')
    .description('Recent jobs, newest first.')
    .addOption(oneOf('--status <status>', 'only jobs in this status', states))
    .option('--limit <n>', 'at most n jobs', int)
    .option('--json', 'print JSON')
    .action(async (o: { status?: JobState; limit?: number; json?: boolean }) => {
      const r = await inFlagWords({ 'query.limit': '--limit' }, () => api().listJobs({ status: o.status, limit: o.limit }))
      if (o.json) return console.log(JSON.stringify(r))
      console.log(jobTable(r.jobs))
    })
}
