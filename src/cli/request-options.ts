// Turns `nbs submit` flags (and an optional -f file) into a build request; flags win over the file.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { devAddresses, devPorts } from '../dev/paths'
import { ServiceError } from '../errors'
import { sourcePattern } from '../jobs/request'
import type { FlagNames } from './flags'

export interface SubmitFlags {
  file?: string
  repo?: string
  /** --source: a directory to pack and upload, or the id of an upload. */
  source?: string
  /** The positional directory of `nbs submit DIR`: --source by another name. */
  dir?: string
  includeGit?: boolean
  ref?: string
  context?: string
  dockerfile?: string
  buildArg?: string[]
  target?: string
  test?: string[]
  entrypointTest?: boolean
  testEnv?: string[]
  testTimeout?: number
  image?: string
  tag?: string[]
  cpu?: number
  memory?: number
}

function pairs(flag: string, values: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    if (eq <= 0) throw new ServiceError('invalid_request', `--${flag}: expected NAME=VALUE, got "${v}"`, flag)
    out[v.slice(0, eq)] = v.slice(eq + 1)
  }
  return out
}

const placeholder = /\$\{(NBS_DEV_[A-Z_]+)\}/g

/**
 * `${NBS_DEV_GIT}` and `${NBS_DEV_REGISTRY}` in the file's strings: the dev stack's Git server and
 * registry, as `nbs dev env` exports them, else as the stack's ports (NBS_DEV_*_PORT) place them.
 * Only these names: any other `${…}` is the image's shell's, in a test command.
 */
function expandDevAddresses(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    const known: Record<string, string> = devAddresses(devPorts(env))
    return value.replace(placeholder, (_, name: string) => {
      if (!(name in known)) throw new ServiceError('invalid_request', `--file: \${${name}} is not a dev stack address; the file may name ${Object.keys(known).map((k) => `\${${k}}`).join(' and ')}`, 'file')
      return env[name] || (known[name] as string)
    })
  }
  if (Array.isArray(value)) return value.map((v) => expandDevAddresses(v, env))
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandDevAddresses(v, env)]))
  return value
}

function readFile(path: string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ServiceError('invalid_request', `--file: cannot read ${path}: ${(e as Error).message}`, 'file')
  }
  const parsed: unknown = parseYaml(text)
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ServiceError('invalid_request', `--file: ${path} must hold a mapping of request fields (YAML or JSON)`, 'file')
  return expandDevAddresses(parsed, env) as Record<string, unknown>
}

// Which request field each flag sets, for naming the flag when the server refuses the field.
const fieldFlags: [field: string, flag: keyof SubmitFlags, name: string][] = [
  ['repo', 'repo', '--repo'],
  ['source', 'source', '--source'],
  ['source', 'dir', '[dir]'],
  ['ref', 'ref', '--ref'],
  ['context', 'context', '--context'],
  ['dockerfile', 'dockerfile', '--dockerfile'],
  ['buildArgs', 'buildArg', '--build-arg'],
  ['target', 'target', '--target'],
  ['test.commands', 'test', '--test'],
  ['test.entrypoint', 'entrypointTest', '--entrypoint-test'],
  ['test.env', 'testEnv', '--test-env'],
  ['test.timeout', 'testTimeout', '--test-timeout'],
  ['image', 'image', '--image'],
  ['tags', 'tag', '--tag'],
  ['resources.cpu', 'cpu', '--cpu'],
  ['resources.memory', 'memory', '--memory'],
]

/** The value at a dotted field path ("test.commands"), or undefined. */
const valueAt = (req: Record<string, unknown>, field: string): unknown =>
  field.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), req)

/**
 * The flags given, by the field each set; a field that came from the -f file keeps its own name.
 * With the request made, a field it lacks is named by the flag that would set it too: the server's
 * "repo: is required" is the CLI's "--repo: is required" (the first flag of a field, --source not [dir]).
 */
export function flagNames(f: SubmitFlags, req?: Record<string, unknown>): FlagNames {
  const names: FlagNames = {}
  for (const [field, flag, name] of fieldFlags)
    if (f[flag] !== undefined || (req && !(field in names) && valueAt(req, field) === undefined)) names[field] = name
  return names
}

const uploadId = new RegExp(sourcePattern)

/** A source that names a directory rather than an upload: what the CLI packs and uploads before it submits. */
export const localSource = (req: Record<string, unknown>): string | undefined =>
  typeof req.source === 'string' && !uploadId.test(req.source) ? req.source : undefined

/**
 * The request the flags and file say. Its `source` may still be a directory (made absolute: a
 * flag's against the working directory, the file's against the file's): see localSource.
 */
export function requestFromFlags(f: SubmitFlags, env = process.env): Record<string, unknown> {
  const req: Record<string, unknown> = f.file ? readFile(f.file, env) : {}
  const set = (key: string, value: unknown) => {
    if (value !== undefined) req[key] = value
  }
  if (f.file && localSource(req)) req.source = resolve(dirname(f.file), req.source as string)
  if (f.dir !== undefined && f.source !== undefined)
    throw new ServiceError('invalid_request', '[dir] and --source: both name what to build: give the directory once', 'source')
  const source = f.source ?? f.dir
  if (f.repo !== undefined && source !== undefined)
    throw new ServiceError('invalid_request', `--repo and ${f.source !== undefined ? '--source' : '[dir]'}: give one: a Git repository (--repo URL) or a directory to upload (--source DIR)`, 'source')
  // A flag says where the source comes from, over the file: the file's repo (and its ref) or source goes.
  if (source !== undefined) {
    delete req.repo
    delete req.ref
    req.source = uploadId.test(source) ? source : resolve(source)
  }
  if (f.repo !== undefined) delete req.source
  set('repo', f.repo)
  set('ref', f.ref)
  set('context', f.context)
  set('dockerfile', f.dockerfile)
  set('target', f.target)
  set('image', f.image)
  if (f.buildArg?.length) req.buildArgs = { ...(req.buildArgs as object), ...pairs('build-arg', f.buildArg) }
  if (f.tag?.length) req.tags = f.tag
  if (f.test?.length || f.entrypointTest || f.testEnv?.length || f.testTimeout !== undefined) {
    const test: Record<string, unknown> = { ...(req.test as object) }
    if (f.test?.length) test.commands = f.test
    if (f.entrypointTest) test.entrypoint = true
    if (f.testEnv?.length) test.env = { ...(test.env as object), ...pairs('test-env', f.testEnv) }
    if (f.testTimeout !== undefined) test.timeout = f.testTimeout
    req.test = test
  }
  if (f.cpu !== undefined || f.memory !== undefined) {
    const resources: Record<string, unknown> = { ...(req.resources as object) }
    if (f.cpu !== undefined) resources.cpu = f.cpu
    if (f.memory !== undefined) resources.memory = f.memory
    req.resources = resources
  }
  if (req.image === undefined) throw new ServiceError('invalid_request', 'image: --image is required (e.g. 127.0.0.1:5000/team/app)', 'image')
  return req
}
