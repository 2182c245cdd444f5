// `nbs run ID -- CMD…`: one command inside a build's image (runInImage), its output as the command's own.
import type { Command } from 'commander'
import type { BuildApi } from '../service/api'
import { RUN_LIMITS, type RunRequest } from '../service/schemas'
import { inFlagWords, wholeNumber as int } from './flags'

const collect = (v: string, acc: string[] = []) => [...acc, v]

export function registerRunCommand(program: Command, api: () => BuildApi): void {
  program
    .command('run <id> <command...>')
    .description(
      "Run one command inside a build's image and exit with its code: the built image, or after the last step that succeeded for a build that failed a step. One word after -- runs under /bin/sh -c; several run as-is.",
    )
    .usage('<id> [options] -- <command...>')
    .option('-e, --env <NAME=VALUE>', 'an environment variable for the command (repeatable)', collect)
    .option('--timeout <seconds>', `time limit (default ${RUN_LIMITS.seconds.default}, at most ${RUN_LIMITS.seconds.maximum})`, int)
    .option('--json', 'print the whole answer as JSON')
    .action(async (id: string, words: string[], o: { env?: string[]; timeout?: number; json?: boolean }) => {
      const env = Object.fromEntries((o.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
      const run: RunRequest = {
        command: words.length === 1 ? (words[0] as string) : words,
        ...(o.env ? { env } : {}),
        ...(o.timeout === undefined ? {} : { timeoutSeconds: o.timeout }),
      }
      const names = { 'params.id': '<id>', command: '<command...>', timeoutSeconds: '--timeout', env: '--env' }
      const r = await inFlagWords(names, () => api().runInImage(id, run))
      if (o.json) console.log(JSON.stringify(r))
      else {
        process.stdout.write(r.stdout)
        process.stderr.write(r.stderr)
        const cut = r.truncated ? `; output cut at ${RUN_LIMITS.outputBytes} bytes a stream` : ''
        const late = r.timedOut ? `; stopped after ${run.timeoutSeconds ?? RUN_LIMITS.seconds.default} s` : ''
        console.error(`nbs: ran in ${r.image} (${r.imageId.slice(0, 12)}) on ${r.node} in ${r.durationSeconds} s: exit ${r.exitCode}${late}${cut}`)
      }
      process.exitCode = r.exitCode
    })
}
