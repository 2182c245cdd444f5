// Request validation: schema first, then the rules a schema cannot say (URL schemes, test presence).
import { type TSchema, TypeGuard } from '@sinclair/typebox'
import { Value, type ValueError, ValueErrorType } from '@sinclair/typebox/value'
import { ServiceError } from '../errors'
import { registryOf } from './plan'
import { JobRequest, limits } from './request'
import { ruleOf } from './rules'
import { closestName } from './similar'
import { refAllowed, refsOf } from './secrets'

export interface ValidationPolicy {
  allowInsecureGit: boolean
  /** Secret reference prefixes this caller may use; none means no references at all. */
  secretPrefixes: readonly string[]
  /** An SSH clone must name the host keys it trusts (secrets.gitKnownHosts); see Config.sshHostKeyChecking. */
  sshHostKeyChecking: boolean
}

export interface FieldError {
  field: string
  message: string
}

/** "/test/commands/0" → "test.commands[0]", the way a person names the field. */
export function fieldName(pointer: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '') || '(body)'
}

const describe = (schema: TSchema): string =>
  typeof schema.description === 'string' ? ` Allowed: ${schema.description}` : ''

/** The values a union of literals allows (an enum, e.g. the job states); undefined for any other schema. */
export function literalValues(schema: TSchema): string[] | undefined {
  if (!TypeGuard.IsUnion(schema) || !schema.anyOf.every(TypeGuard.IsLiteral)) return undefined
  return schema.anyOf.map((s) => String(s.const))
}

const kinds: Record<string, string> = { string: 'string', integer: 'whole number', number: 'number', boolean: 'boolean', object: 'object' }

/** "a string", "an array of strings": what one branch of a union takes, in words. */
function kindOf(s: TSchema): string {
  if (TypeGuard.IsLiteral(s)) return JSON.stringify(s.const)
  if (TypeGuard.IsArray(s)) return `an array of ${kinds[String(s.items.type)] ?? 'value'}s`
  const kind = kinds[String(s.type)] ?? 'value'
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`)

/** A union refused: the values or the kinds it allows. Only an enum's value is echoed: other values may be long, or secret. */
function unionMessage(schema: TSchema, value: unknown): string {
  const values = literalValues(schema)
  if (values) return `must be one of ${values.join(', ')} (got ${JSON.stringify(value)?.slice(0, 60)})`
  return `must be ${(schema.anyOf as TSchema[]).map(kindOf).join(' or ')} (got ${typeName(value)})`
}

/** A pattern refused: its rule in words (src/jobs/rules.ts), never the regex. */
const patternMessage = (pattern: string) => ruleOf(pattern) ?? `must match ${pattern}`

/** "unknown field", with the known field it most likely meant: `test.command` was meant as `commands`. */
function unknownField(e: ValueError): string {
  const name = e.path.split('/').pop()?.replace(/~1/g, '/').replace(/~0/g, '~') ?? ''
  const meant = closestName(name, Object.keys(e.schema.properties ?? {}))
  return meant ? `unknown field; did you mean \`${meant}\`?` : 'unknown field'
}

function messageOf(e: ValueError): string {
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      if (!e.schema.patternProperties) return unknownField(e)
      const [names = ''] = Object.keys(e.schema.patternProperties)
      return `is not an allowed name (it ${patternMessage(names)}).${describe(e.schema)}`
    }
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required'
    case ValueErrorType.StringPattern:
      return patternMessage(e.schema.pattern)
    // The bound and the length, in words: typebox says "Expected string length less or equal to 8192".
    case ValueErrorType.StringMaxLength:
      return `at most ${e.schema.maxLength} characters (got ${String(e.value).length})`
    case ValueErrorType.StringMinLength:
      return e.schema.minLength === 1 ? 'must not be empty' : `at least ${e.schema.minLength} characters (got ${String(e.value).length})`
    case ValueErrorType.Union:
      return unionMessage(e.schema, e.value)
    default:
      return `${e.message.replace(/^Expected/, 'expected')}.${describe(e.schema)}`
  }
}

/** Whether a union's branch takes values of `value`'s JSON kind (an enum's literals never do: unionMessage lists them). */
function takesKind(s: TSchema, value: unknown): boolean {
  if (TypeGuard.IsLiteral(s)) return false
  if (Array.isArray(value)) return TypeGuard.IsArray(s)
  if (value === null) return s.type === 'null'
  if (typeof value === 'number') return s.type === 'number' || s.type === 'integer'
  return s.type === typeof value
}

/**
 * Value.Errors, with a union's error replaced by its one branch of the value's kind's errors: a
 * string refused for its length is told its length, not "must be a string or … (got a string)".
 */
function* errorsOf(schema: TSchema, value: unknown, prefix = ''): Generator<{ path: string; error: ValueError }> {
  for (const e of Value.Errors(schema, value)) {
    const branches = e.type === ValueErrorType.Union ? (e.schema.anyOf as TSchema[]).filter((s) => takesKind(s, e.value)) : []
    if (branches.length === 1) yield* errorsOf(branches[0] as TSchema, e.value, prefix + e.path)
    else yield { path: prefix + e.path, error: e }
  }
}

/** Every schema error, one per field, with what the field allows. */
export function schemaErrors(schema: TSchema, value: unknown): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const { path, error: e } of errorsOf(schema, value)) {
    const field = fieldName(path)
    if (seen.has(field)) continue
    seen.add(field)
    out.push({ field, message: messageOf(e) })
  }
  return out
}

const scpLike = /^[A-Za-z0-9._-]+@[A-Za-z0-9][A-Za-z0-9.-]*:(?!\/\/)[^\s]+$/

/** The URL forms a repository may take: never local paths, file:// or git's ext:: transport. */
export const repoForms = (allowInsecureGit: boolean) => [
  'https://host/path',
  'ssh://host/path',
  'git@host:path',
  ...(allowInsecureGit ? ['git://host/path', 'http://host/path'] : []),
]

export function repoUrlError(repo: string, policy: ValidationPolicy): string | undefined {
  const allowed = `allowed: ${repoForms(policy.allowInsecureGit).join(', ')}`
  if (/\s/.test(repo) || repo.startsWith('-')) return `must be a URL without spaces or a leading '-'; ${allowed}`
  if (scpLike.test(repo)) return undefined
  let url: URL
  try {
    url = new URL(repo)
  } catch {
    return `is not a URL; ${allowed}`
  }
  const schemes = ['https:', 'ssh:', ...(policy.allowInsecureGit ? ['git:', 'http:'] : [])]
  if (!schemes.includes(url.protocol)) return `scheme ${url.protocol.replace(':', '')}:// is not allowed; ${allowed}`
  // A host that starts with '-' becomes an option of ssh (CVE-2017-1000117).
  if (!url.hostname || url.hostname.startsWith('-') || url.username.startsWith('-')) return `has no valid host; ${allowed}`
  if (url.password) return 'must not carry a password: name a secret reference instead'
  return undefined
}

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8')

/** The request's largest part, the one to shorten: a top-level field, or a field of test or secrets. */
function largestPart(req: JobRequest): { field: string; bytes: number } {
  const parts = Object.entries(req).flatMap(([k, v]) =>
    (k === 'test' || k === 'secrets') && v && typeof v === 'object'
      ? Object.entries(v).map(([sub, w]) => ({ field: `${k}.${sub}`, bytes: jsonBytes(w) }))
      : [{ field: k, bytes: jsonBytes(v) }],
  )
  return parts.reduce((a, b) => (b.bytes > a.bytes ? b : a))
}

/** Returns the request typed, or throws one ServiceError naming every field at fault. */
export function validateRequest(input: unknown, policy: ValidationPolicy): JobRequest {
  const errors = schemaErrors(JobRequest, input)
  if (errors.length === 0) {
    const req = input as JobRequest
    if (req.repo === undefined && req.source === undefined)
      errors.push({ field: 'repo', message: 'is required, or source: give repo (a Git URL) or source (an uploaded directory, from POST /v1/sources)' })
    else if (req.repo !== undefined && req.source !== undefined)
      errors.push({ field: 'source', message: 'give either repo (a Git URL) or source (an uploaded directory), not both' })
    if (req.repo !== undefined) {
      const repoError = repoUrlError(req.repo, policy)
      if (repoError) errors.push({ field: 'repo', message: repoError })
    } else if (req.ref !== undefined) errors.push({ field: 'ref', message: 'applies to repo only: an uploaded source is built as it was uploaded' })
    for (const { field, ref } of refsOf(req.secrets))
      if (!refAllowed(ref, policy.secretPrefixes))
        errors.push({
          field,
          message: policy.secretPrefixes.length
            ? `reference ${ref} is outside the prefixes this client may use: ${policy.secretPrefixes.join(', ')}`
            : 'this client may not use secret references (no prefixes are allowed for it)',
        })
    if (req.secrets?.git && req.secrets.gitSsh)
      errors.push({ field: 'secrets.gitSsh', message: 'give either git (HTTPS) or gitSsh credentials, not both' })
    // Without host keys the clone would trust whichever server answers first, and hand it the key.
    if (req.secrets?.gitSsh && !req.secrets.gitKnownHosts && policy.sshHostKeyChecking)
      errors.push({
        field: 'secrets.gitKnownHosts',
        message:
          "is required with gitSsh: name the secret that holds the Git server's SSH host keys (item known_hosts, lines as ssh-keyscan prints them; the gitSsh secret itself may hold both items). Only the server's operator can turn host-key checking off (NBS_SSH_HOST_KEY_CHECKING=off)",
      })
    const cacheRegistry = req.cache?.registry
    if (cacheRegistry && registryOf(cacheRegistry) !== registryOf(req.image))
      errors.push({
        field: 'cache.registry',
        message: `must be a repository on the image's registry, ${registryOf(req.image)} (it is ${registryOf(cacheRegistry)}): the build reaches it with the image's credentials and TLS settings`,
      })
    else if (cacheRegistry === req.image)
      errors.push({
        field: 'cache.registry',
        message: 'must be another repository than image: cache layers are pushed while building, before the tests decide, and image only ever gets images that passed them',
      })
    if (req.test && !req.test.commands?.length && !req.test.entrypoint)
      errors.push({ field: 'test', message: 'needs at least one of commands or entrypoint: true (or leave test out)' })
    const bytes = jsonBytes(req)
    if (bytes > limits.requestBytes) {
      const { field, bytes: largest } = largestPart(req)
      errors.push({
        field,
        message: `the request is ${bytes} bytes as JSON, over the ${limits.requestBytes} a build can carry (Nomad hands the whole request to every task in its environment, where Linux takes at most 128 KiB in one variable); its largest part is ${field}, ${largest} bytes`,
      })
    }
  }
  const [first] = errors
  if (first)
    throw new ServiceError(
      'invalid_request',
      errors.map((e) => `${e.field}: ${e.message}`).join('; '),
      first.field,
      errors,
    )
  return input as JobRequest
}
