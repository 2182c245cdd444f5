// Why a build failed, read once from the words of the programs that failed: Git's and Buildah's
// output in the failing task's log, and Nomad's task events. Every surface shows what this finds.
// The patterns are held to recordings of Buildah 1.28 and Git 2.39 (test/fixtures/buildah-1.28).
import type { TaskEvent } from '../nomad/types'
import type { FailedStep, Failure, FailureCause } from './status-schema'

/** What a failure gains from its cause. */
export type Explanation = Pick<Failure, 'summary' | 'hint' | 'step' | 'exitCode'> & { cause: FailureCause }

const SAY = '==> nbs: '
// build.sh says this line just before it runs Buildah: what comes before is Git and the path checks.
const BUD = `${SAY}buildah bud `

/** `{hint}` when there is one: an absent hint is no key at all. */
const hinted = (hint: string | undefined) => (hint ? { hint } : {})

/** The lines the phase scripts said themselves, without their prefix. */
const said = (log: string) => [...log.matchAll(/^==> nbs: (.*)$/gm)].map((m) => m[1] as string)

/** Buildah's last error line, `Error: …`. */
const lastError = (log: string) => [...log.matchAll(/^Error: (.*)$/gm)].at(-1)?.[1]

/** The step Buildah was at: the last `STEP i/n: …` line (`[stage] STEP i/n: …` in a multi-stage build). */
export function lastStep(log: string): FailedStep | undefined {
  const m = [...log.matchAll(/^(?:\[(\d+)\/(\d+)\] )?STEP (\d+)\/(\d+): (.*)$/gm)].at(-1)
  if (!m) return undefined
  const step: FailedStep = { index: Number(m[3]), total: Number(m[4]), instruction: (m[5] as string).trim() }
  if (m[1]) step.stage = { index: Number(m[1]), total: Number(m[2]) }
  return step
}

/** "step 2/2 of stage 2/2": in a multi-stage build each stage counts its steps from 1. */
export const stepNumber = (s: FailedStep) => `step ${s.index}/${s.total}${s.stage ? ` of stage ${s.stage.index}/${s.stage.total}` : ''}`

const stepWords = (s: FailedStep) => `${stepNumber(s)} (${s.instruction})`

// The error codes of the OCI distribution spec, as registries spell them in their answers.
const REGISTRY_WORDS =
  /(?:^|: )((?:unauthorized|denied|blob unknown|blob upload unknown|blob upload invalid|manifest unknown|manifest invalid|manifest blob unknown|manifest unverified|name unknown|name invalid|tag invalid|size invalid|digest invalid|unsupported|too many requests|toomanyrequests)\b.*)$/
// Go's net errors: nothing answered, or not as a registry.
const NETWORK_WORDS = /dial tcp|connection refused|no such host|i\/o timeout|network is unreachable|connection reset|TLS handshake|x509:|server gave HTTP response to HTTPS client/

/** What the registry itself answered, else Buildah's error from its last part on. */
function registryWords(error: string): string {
  const words = REGISTRY_WORDS.exec(error)?.[1]
  if (words) return words
  const net = NETWORK_WORDS.exec(error)
  const cut = net ? error.lastIndexOf(': ', net.index) : -1
  return cut < 0 ? error : error.slice(cut + 2)
}

// Dockerfile instructions Buildah 1.28 (openshift/imagebuilder) knows.
const INSTRUCTIONS = ['ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length] as number
}

/** "did you mean RUN?" for a word one or two edits from an instruction. */
function nearestInstruction(word: string): string | undefined {
  const upper = word.toUpperCase()
  const [best] = INSTRUCTIONS.map((i) => ({ i, d: distance(upper, i) })).sort((a, b) => a.d - b.d)
  return best && best.d <= Math.min(2, best.i.length - 1) ? best.i : undefined
}

// Words of imagebuilder's own checks: the instruction could not be read, nothing ran.
const PARSE_WORDS = /Unknown instruction|requires (?:at least|exactly|either|one|two)|Error parsing|isn't allowed|parse error|invalid duration|unknown flag|flag .* is not/i

/** The build phase: Git's words, the path checks' words, then Buildah's. */
export function buildCause(log: string, exitCode: number | undefined): Explanation | undefined {
  const bud = log.indexOf(BUD)
  const before = bud < 0 ? log : log.slice(0, bud)
  const lines = said(before)
  const ref = lines.map((l) => /^ref (.+) is not a branch, tag or commit of (.+)$/.exec(l)).findLast(Boolean)
  if (ref)
    return {
      cause: 'ref_not_found',
      summary: `ref ${ref[1]} is not a branch, tag or commit of ${ref[2]}`,
      hint: 'push the branch or tag, or set ref to one the repository has',
      ...(exitCode === undefined ? {} : { exitCode }),
    }
  const fatal = [...before.matchAll(/^fatal: (.*)$/gm)].at(-1)?.[1]
  if (fatal && bud < 0) {
    const repo = lines.map((l) => /^fetching (\S+)/.exec(l)?.[1]).findLast(Boolean)
    return {
      cause: 'clone_failed',
      summary: `git could not fetch ${repo ?? 'the repository'}: ${fatal}`,
      ...hinted(
        /not found|not exported|does not exist|not appear to be a git repository/i.test(fatal)
          ? 'check the repo URL (and that the server lets the build read it)'
          : /authentication|permission denied|could not read username/i.test(fatal)
            ? 'the repository needs credentials: name them in secrets.git or secrets.gitSsh'
            : undefined,
      ),
      ...(exitCode === undefined ? {} : { exitCode }),
    }
  }
  const path = lines.findLast((l) => /leaves the repository|does not exist in the repository|is not a (?:directory|file) in the repository|^no Dockerfile or Containerfile in /.test(l))
  if (path && bud < 0)
    return {
      cause: 'context_invalid',
      summary: path.replace(/: it resolves outside.*$/, ': it resolves outside the clone'),
      hint: /^no Dockerfile/.test(path) ? 'add a Dockerfile, or set context and dockerfile to where it is' : 'give context and dockerfile as paths inside the repository',
      ...(exitCode === undefined ? {} : { exitCode }),
    }
  const found = buildahCause(bud < 0 ? log : log.slice(bud), exitCode)
  const line = found?.step && lineOf(log, found.step)
  return line && found?.step ? { ...found, step: { ...found.step, line } } : found
}

/**
 * The Dockerfile line a step starts on, from what build.sh says of a failed build's Dockerfile
 * ("stage 1 of 2: its steps start on Dockerfile lines 2 4 6"), trusted only where it counts the
 * stage's steps as Buildah did.
 */
function lineOf(log: string, step: FailedStep): number | undefined {
  const stage = step.stage ?? { index: 1, total: 1 }
  const map = [...log.matchAll(/^==> nbs: stage (\d+) of (\d+): its steps start on Dockerfile lines ([\d ]+)$/gm)].find(
    (m) => Number(m[1]) === stage.index && Number(m[2]) === stage.total,
  )
  const lines = map?.[3]?.trim().split(' ').map(Number)
  return lines?.length === step.total ? lines[step.index - 1] : undefined
}

function buildahCause(log: string, exitCode: number | undefined): Explanation | undefined {
  const error = lastError(log)
  const step = lastStep(log)
  const exit = exitCode === undefined ? {} : { exitCode }
  if (error?.startsWith('creating build container: ')) {
    const ref = /docker:\/\/(\S+?): /.exec(error)?.[1] ?? step?.instruction.replace(/^FROM\s+/i, '')
    const words = registryWords(error)
    return {
      cause: 'base_image_unavailable',
      summary: `the base image ${ref ?? '(see the log)'} cannot be pulled: ${words}`,
      ...hinted(
        /manifest unknown|name unknown/.test(words)
          ? 'the registry has no such image or tag: check FROM'
          : /unauthorized|denied/.test(words)
            ? 'the registry wants credentials for it'
            : undefined,
      ),
      ...(step ? { step } : {}),
      ...exit,
    }
  }
  // Buildah's words follow the instruction's first `": ` (the instruction seldom holds one; its words often do).
  const at = error && /^building at STEP "(.*?)": (.*)$/.exec(error)
  if (at) {
    const words = at[2] as string
    // Without its STEP line (a log cut short) the step is named by Buildah's error alone, unnumbered.
    const failed = step && { step }
    const named = step ? stepWords(step) : `the step ${at[1]}`
    const status = /^exit status (\d+)$/.exec(words)
    if (status) {
      const code = Number(status[1])
      return { cause: 'step_failed', summary: `${named} exited with ${code}`, ...failed, exitCode: code }
    }
    const unknown = /Unknown instruction: "?([A-Za-z]+)"?/.exec(words)
    if (unknown) {
      // imagebuilder prints the line as written ("Original") where the STEP line has only its first word.
      const original = /Original:"((?:[^"\\]|\\.)*)"/.exec(words)?.[1]
      const instruction = original ? (JSON.parse(`"${original}"`) as string) : (step?.instruction ?? (at[1] as string))
      const near = nearestInstruction(unknown[1] as string)
      return {
        cause: 'dockerfile_invalid',
        summary: `${step ? `${stepNumber(step)}: ` : ''}unknown instruction ${(unknown[1] as string).toUpperCase()} in "${instruction}"`,
        ...hinted(near && `did you mean ${near}?`),
        ...(step ? { step: { ...step, instruction } } : {}),
        ...exit,
      }
    }
    const missing = /copier: stat: "([^"]*)": no such file or directory/.exec(words)
    if (missing)
      return {
        cause: 'step_failed',
        summary: `${named}: ${(missing[1] as string).replace(/^\//, '')} is not in the build context`,
        hint: 'COPY and ADD read from the context: check the path, the context, and .dockerignore',
        ...failed,
        ...exit,
      }
    return { cause: PARSE_WORDS.test(words) ? 'dockerfile_invalid' : 'step_failed', summary: `${named}: ${words}`, ...failed, ...exit }
  }
  // Before any step: imagebuilder refused the Dockerfile as a whole.
  if (error && !step) return { cause: 'dockerfile_invalid', summary: `Buildah could not read the Dockerfile: ${error}`, ...exit }
  if (step) return { cause: 'step_failed', summary: `${stepWords(step)} failed${error ? `: ${error}` : ''}`, step, ...exit }
  return undefined
}

/** The publish phase: the registry login, then Buildah's push. */
export function publishCause(log: string, exitCode: number | undefined): Explanation | undefined {
  const exit = exitCode === undefined ? {} : { exitCode }
  const lines = said(log)
  const login = lines.map((l) => /^login to (\S+) failed/.exec(l)?.[1]).findLast(Boolean)
  const error = lastError(log)
  if (login)
    return {
      cause: 'publish_rejected',
      summary: `the registry ${login} refused the login${error ? `: ${registryWords(error.replace(/^logging into "[^"]*": /, ''))}` : ''}`,
      hint: 'check the credentials the secrets.registry reference names',
      ...exit,
    }
  if (!error) return undefined
  const dest = lines.map((l) => /^pushing (\S+)$/.exec(l)?.[1]).findLast(Boolean) ?? 'the image'
  if (!REGISTRY_WORDS.test(error) && NETWORK_WORDS.test(error)) {
    const registry = /pinging container registry (\S+): /.exec(error)?.[1] ?? dest.split('/')[0]
    return {
      cause: 'registry_unreachable',
      summary: `the registry ${registry} could not be reached to push ${dest}: ${registryWords(error)}`,
      hint: 'check the image name and that the registry is up and reachable from the nodes',
      ...exit,
    }
  }
  const words = registryWords(error)
  return {
    cause: 'publish_rejected',
    summary: `the registry refused the push of ${dest}: ${words}`,
    ...hinted(/unauthorized|denied/.test(words) ? 'the registry wants credentials that may push there: name them in secrets.registry' : undefined),
    ...exit,
  }
}

/** Nomad's words on a task that could not start, from its events. */
export function startCause(task: string, events: TaskEvent[]): (Explanation & { summary: string }) | undefined {
  const words = (e: TaskEvent) => e.DisplayMessage || e.Message || ''
  const artifact = events.find((e) => e.Type === 'Failed Artifact Download')
  if (artifact) {
    // A source's URL carries a token for that source and build: only the path is shown.
    const text = words(artifact).replace(/(https?:\/\/[^\s"?]+)\?[^\s"]*/g, '$1')
    const source = /failed to download artifact "([^"]+)"/.exec(text)?.[1] ?? 'the uploaded source'
    const why = /failed to download artifact: ([^\n]*)/.exec(text)?.[1] ?? text
    return {
      cause: 'source_unavailable',
      summary: `task ${task} could not download the build's source ${source}: ${why.replace(/ for \/\S+$/, '')}; the server replica that received it is gone or the upload expired: upload the directory again and resubmit the build`,
    }
  }
  const hook = events.find((e) => e.Type === 'Task hook failed')
  if (hook) {
    const text = words(hook)
    // Nomad names the hook first: `vault: failed to derive Vault token: …`, `template: …`.
    const secret = /^(?:vault|template)\b/.test(text)
    return {
      cause: secret ? 'secret_unavailable' : 'node_unfit',
      summary: `task ${task} could not start: ${text}`,
      ...hinted(/^vault\b/.test(text) ? "the node's Nomad could not log in to Vault with the task's role: ask the operator to check the role and its policy (infra/README.md#vault)" : undefined),
    }
  }
  return undefined
}

/** `Missing: nomad.var.block(<path>@<ns>.<region>)` or `Missing: vault.read(<path>)`, as the request named it. */
export function missingSecretOf(message: string | undefined): string | undefined {
  const m = /^Missing: (nomad\.var\.block|vault\.read)\(([^)@]+)/.exec(message ?? '')
  if (!m) return undefined
  return `${m[1] === 'vault.read' ? 'vault' : 'nomad'}:${m[2]}`
}

/**
 * A secret the template waits for. A Vault read the policy denies reads as `Missing: vault.read(…)`
 * just as an absent secret does, so only a Nomad Variable is said not to exist.
 */
export function missingSecretWords(task: string, ref: string): string {
  return ref.startsWith('vault:')
    ? `task ${task} cannot start: the secret ${ref} cannot be read: it may be absent, or the task's Vault policy may not allow reading it`
    : `task ${task} cannot start: the secret ${ref} does not exist (create it, or fix the reference in secrets)`
}

/** The failure's cause, its step and exit code, and what to change: the lines an agent acts on. */
export function causeLines(failure: Failure): string[] {
  const lines: string[] = []
  const exit = failure.exitCode === undefined ? '' : ` (exit code ${failure.exitCode})`
  if (failure.cause) lines.push(`cause: ${failure.cause}${failure.step ? '' : exit}`)
  const { step } = failure
  if (step) lines.push(`failing ${stepNumber(step)}${step.line ? ` (Dockerfile line ${step.line})` : ''}: ${step.instruction}${exit}`)
  if (failure.hint) lines.push(`hint: ${failure.hint}`)
  return lines
}
