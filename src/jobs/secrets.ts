// Secret references: where a build's credentials live (Vault KV or Nomad Variables), never their values.
// The job renders them with Nomad's template block inside the task that needs them.
import { type Static, Type as t } from '@sinclair/typebox'
import type { Template } from '../nomad/types'

// Characters that cannot close the template's string literal or open an action: the path is
// spliced into template text, so it must stay within this set.
const nomadPath = '[A-Za-z0-9_~-]+(?:/[A-Za-z0-9_~-]+)*'
// No "." or ".." segment: Vault would resolve it, and "team-a/../team-b" would pass a prefix check.
const vaultPath = '[A-Za-z0-9_-]+(?:/(?!\\.{1,2}(?:/|#|$))[A-Za-z0-9_.-]+)*'
export const secretRefPattern = `^(?:nomad:${nomadPath}|vault:${vaultPath})(?:#[A-Za-z0-9_]{1,64})?$`

const Ref = (what: string) =>
  t.String({
    pattern: secretRefPattern,
    maxLength: 512,
    description: `${what} A reference, never a value: "nomad:<variable path>" or "vault:<kv path>", e.g. "vault:kv/data/nbs/team/registry".`,
  })

export const SecretRefs = t.Object(
  {
    git: t.Optional(Ref('Git HTTPS credentials for a private repo: items `username` and `password` (a token).')),
    gitSsh: t.Optional(Ref('Git SSH private key for a private repo: item `ssh_key`. Needs gitKnownHosts too, unless the server turned host-key checking off.')),
    gitKnownHosts: t.Optional(
      Ref(
        "The Git server's SSH host keys, the only ones an SSH clone trusts: item `known_hosts`, lines as `ssh-keyscan -p PORT HOST` prints them (check them). It may be the gitSsh secret itself, holding both items.",
      ),
    ),
    registry: t.Optional(Ref("Registry credentials for publish (and for the build when it shares its cache there, cache.registry): items `username` and `password`.")),
    build: t.Optional(
      t.Record(t.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }), Ref('A Buildah build secret (RUN --mount=type=secret,id=ID); item `value` unless the reference ends in #item.'), {
        additionalProperties: false,
        maxProperties: 16,
        description: 'Build secrets by id.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Secrets by reference. Each must fall under a prefix the client is allowed; test commands never see any of them.',
  },
)
export type SecretRefs = Static<typeof SecretRefs>

interface ParsedRef {
  backend: 'nomad' | 'vault'
  path: string
  item?: string
}

export function parseRef(ref: string): ParsedRef {
  const [location = '', item] = ref.split('#')
  const colon = location.indexOf(':')
  return { backend: location.slice(0, colon) as ParsedRef['backend'], path: location.slice(colon + 1), item }
}

/**
 * A reference is allowed when its path lies under one of the prefixes, on whole path segments:
 * "nomad:nbs/team-a" admits "nomad:nbs/team-a/x", never "nomad:nbs/team-ab/x". A "." or ".."
 * segment is never allowed (the schema refuses it too): it would climb out of the prefix.
 */
export function refAllowed(ref: string, prefixes: readonly string[]): boolean {
  const location = ref.split('#')[0] ?? ''
  const path = location.slice(location.indexOf(':') + 1)
  if (path.split('/').some((s) => s === '' || s === '.' || s === '..')) return false
  return prefixes.some((p) => {
    const prefix = p.endsWith('/') ? p : `${p}/`
    return location === p.replace(/\/$/, '') || location.startsWith(prefix)
  })
}

/** Every reference in a request, with the field that holds it. */
export function refsOf(s: SecretRefs | undefined): { field: string; ref: string }[] {
  if (!s) return []
  const out: { field: string; ref: string }[] = []
  for (const key of ['git', 'gitSsh', 'gitKnownHosts', 'registry'] as const) {
    const ref = s[key]
    if (ref) out.push({ field: `secrets.${key}`, ref })
  }
  for (const [id, ref] of Object.entries(s.build ?? {})) out.push({ field: `secrets.build.${id}`, ref })
  return out
}

/**
 * One template that renders one item of a secret into `secrets/nbs.<file>`, readable by the task
 * alone: by the task's user when `owner` is given (a non-root task cannot read a root-owned 0600
 * file). Not in a folder: Nomad would create it root-owned, and the task could not remove the
 * file once used; the phase scripts move it into a folder of their own.
 */
export function secretFile(ref: string, defaultItem: string, file: string, owner?: number): Template {
  const { backend, path, item = defaultItem } = parseRef(ref)
  // KV version 2 keeps the item under .Data.data; version 1 directly under .Data.
  const body =
    backend === 'nomad'
      ? `{{ with nomadVar "${path}" }}{{ .${item} }}{{ end }}`
      : `{{ with secret "${path}" }}{{ .Data${path.includes('/data/') ? '.data' : ''}.${item} }}{{ end }}`
  const template: Template = { EmbeddedTmpl: body, DestPath: `secrets/nbs.${file}`, Perms: '0600', ChangeMode: 'noop' }
  return owner === undefined ? template : { ...template, Uid: owner, Gid: owner }
}

export const usesVault = (templates: Template[]) => templates.some((tp) => tp.EmbeddedTmpl.includes('{{ with secret '))

/**
 * The templates of each task that needs secrets, owned by uid `owner` when given; the test tasks get
 * none. The build gets the registry's credentials only when it pushes cache layers there (`registryInBuild`).
 */
export function secretTemplates(
  s: SecretRefs | undefined,
  owner?: number,
  registryInBuild = false,
): { build: Template[]; publish: Template[]; buildIds: string[] } {
  const file = (ref: string, item: string, name: string) => secretFile(ref, item, name, owner)
  const build: Template[] = []
  const publish: Template[] = []
  if (s?.git) build.push(file(s.git, 'username', 'git_username'), file(s.git, 'password', 'git_password'))
  if (s?.gitSsh) build.push(file(s.gitSsh, 'ssh_key', 'git_ssh_key'))
  if (s?.gitKnownHosts) build.push(file(s.gitKnownHosts, 'known_hosts', 'git_known_hosts'))
  const buildIds = Object.keys(s?.build ?? {})
  for (const id of buildIds) build.push(file(s!.build![id]!, 'value', `build_${id}`))
  if (s?.registry) {
    const registry = [file(s.registry, 'username', 'registry_username'), file(s.registry, 'password', 'registry_password')]
    publish.push(...registry)
    if (registryInBuild) build.push(...registry)
  }
  return { build, publish, buildIds }
}
