// Request validation: schema first, then the rules a schema cannot say (URL schemes, test presence).
import type { TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType } from '@sinclair/typebox/value'
import { ServiceError } from '../errors'
import { JobRequest } from './request'
import { refAllowed, refsOf } from './secrets'

export interface ValidationPolicy {
  allowInsecureGit: boolean
  /** Secret reference prefixes this caller may use; none means no references at all. */
  secretPrefixes: readonly string[]
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

/** Every schema error, one per field, with what the field allows. */
export function schemaErrors(schema: TSchema, value: unknown): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const e of Value.Errors(schema, value)) {
    const field = fieldName(e.path)
    if (seen.has(field)) continue
    seen.add(field)
    const message =
      e.type === ValueErrorType.ObjectAdditionalProperties
        ? e.schema.patternProperties
          ? `is not an allowed name.${describe(e.schema)}`
          : 'unknown field'
        : e.type === ValueErrorType.ObjectRequiredProperty
          ? 'is required'
          : `${e.message.replace(/^Expected/, 'expected')}.${describe(e.schema)}`
    out.push({ field, message })
  }
  return out
}

const scpLike = /^[A-Za-z0-9._-]+@[A-Za-z0-9][A-Za-z0-9.-]*:(?!\/\/)[^\s]+$/

/** Which URL forms a repository may take: never local paths, file:// or git's ext:: transport. */
export function repoUrlError(repo: string, policy: ValidationPolicy): string | undefined {
  const insecure = policy.allowInsecureGit ? ', git://, http://' : ''
  const allowed = `allowed: https://host/path, ssh://host/path, git@host:path${insecure}`
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

/** Returns the request typed, or throws one ServiceError naming every field at fault. */
export function validateRequest(input: unknown, policy: ValidationPolicy): JobRequest {
  const errors = schemaErrors(JobRequest, input)
  if (errors.length === 0) {
    const req = input as JobRequest
    const repoError = repoUrlError(req.repo, policy)
    if (repoError) errors.push({ field: 'repo', message: repoError })
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
    if (req.test && !req.test.commands?.length && !req.test.entrypoint)
      errors.push({ field: 'test', message: 'needs at least one of commands or entrypoint: true (or leave test out)' })
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
