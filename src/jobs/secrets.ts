// Secret references: where a build's credentials live (Vault KV or Nomad Variables), never their values.
// The job renders them with Nomad's template block inside the task that needs them.
import { type Static, Type as t } from '@sinclair/typebox'
import type { Template } from '../nomad/types'

// Characters that cannot close the template's string literal or open an action: the path is
// spliced into template text, so it must stay within this set.
const nomadPath = '[A-Za-z0-9_~-]+(?:/[A-Za-z0-9_~-]+)*'
const vaultPath = '[A-Za-z0-9_-]+(?:/[A-Za-z0-9_.-]+)*'
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
    gitSsh: t.Optional(Ref('Git SSH private key for a private repo: item `ssh_key`.')),
    registry: t.Optional(Ref('Registry credentials for publish: items `username` and `password`.')),
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

/** A reference is allowed when it starts with one of the prefixes (e.g. "nomad:nbs/team-a/"). */
export const refAllowed = (ref: string, prefixes: readonly string[]) => prefixes.some((p) => ref.startsWith(p))

/** Every reference in a request, with the field that holds it. */
export function refsOf(s: SecretRefs | undefined): { field: string; ref: string }[] {
  if (!s) return []
  const out: { field: string; ref: string }[] = []
  for (const key of ['git', 'gitSsh', 'registry'] as const) {
    const ref = s[key]
    if (ref) out.push({ field: `secrets.${key}`, ref })
  }
  for (const [id, ref] of Object.entries(s.build ?? {})) out.push({ field: `secrets.build.${id}`, ref })
  return out
}

/** One template that renders one item of a secret into `secrets/nbs/<file>`, readable by the task alone. */
export function secretFile(ref: string, defaultItem: string, file: string): Template {
  const { backend, path, item = defaultItem } = parseRef(ref)
  // KV version 2 keeps the item under .Data.data; version 1 directly under .Data.
  const body =
    backend === 'nomad'
      ? `{{ with nomadVar "${path}" }}{{ .${item} }}{{ end }}`
      : `{{ with secret "${path}" }}{{ .Data${path.includes('/data/') ? '.data' : ''}.${item} }}{{ end }}`
  return { EmbeddedTmpl: body, DestPath: `secrets/nbs/${file}`, Perms: '0600', ChangeMode: 'noop' }
}

export const usesVault = (templates: Template[]) => templates.some((tp) => tp.EmbeddedTmpl.includes('{{ with secret '))

/** The templates of each task that needs secrets; the test tasks get none. */
export function secretTemplates(s: SecretRefs | undefined): { build: Template[]; publish: Template[]; buildIds: string[] } {
  const build: Template[] = []
  const publish: Template[] = []
  if (s?.git) build.push(secretFile(s.git, 'username', 'git_username'), secretFile(s.git, 'password', 'git_password'))
  if (s?.gitSsh) build.push(secretFile(s.gitSsh, 'ssh_key', 'git_ssh_key'))
  const buildIds = Object.keys(s?.build ?? {})
  for (const id of buildIds) build.push(secretFile(s!.build![id]!, 'value', `build_${id}`))
  if (s?.registry) publish.push(secretFile(s.registry, 'username', 'registry_username'), secretFile(s.registry, 'password', 'registry_password'))
  return { build, publish, buildIds }
}
