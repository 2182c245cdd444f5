// The build request: one typebox schema for MCP, REST, the CLI's file format and the job's Meta.
import { type Static, Type as t } from '@sinclair/typebox'
import { SecretRefs } from './secrets'

// distribution/reference grammar: an optional registry host[:port], then lowercase path components.
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const domain = `${domainComponent}(?:\\.${domainComponent})*(?::[0-9]+)?`
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*'
export const imagePattern = `^(?:${domain}/)?${pathComponent}(?:/${pathComponent})*$`
export const tagPattern = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
export const envNamePattern = '^[A-Za-z_][A-Za-z0-9_]{0,127}$'
export const refPattern = '^(?!-)[A-Za-z0-9._/@+-]{1,255}$'
export const targetPattern = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'
export const gpuVendorPattern = '^[a-z0-9][a-z0-9_-]{0,31}$'
export const gpuModelPattern = '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$'
// A relative path inside the repository: not absolute, no "..", and only the characters of
// ordinary file names (no quotes, braces, "$" or control characters).
/** An uploaded archive's id: the SHA-256 of its bytes. */
export const sourcePattern = '^sha256:[0-9a-f]{64}$'
export const relativePathPattern = '^(?!/)(?!(?:.*/)?\\.\\.(?:/|$))[A-Za-z0-9._/@+ -]*$'

export const defaults = { buildTimeout: 1800, testTimeout: 600, publishTimeout: 600, cpu: 200, memory: 1024 } as const

/** The request's bounds: the schema enforces them (requestBytes: validateRequest), getServerInfo tells them. */
export const limits = {
  /**
   * The whole request as JSON, in UTF-8 bytes. Nomad copies the job's Meta, and with it the request,
   * into every task's environment (NOMAD_META_<key>, in up to four spellings of the key), and the
   * largest field travels there once more in base64 (4/3 of its size). Linux refuses to start a
   * process with one environment string over 128 KiB (MAX_ARG_STRLEN) or with arguments and
   * environment over 2 MiB (ARG_MAX with an 8 MiB stack); at 64 KiB the longest string is 85 KiB and
   * the whole, with Nomad's own variables, under 450 KiB (test/unit/os-limits.test.ts measures both).
   * Only a bound on the whole does this: one on each field alone would leave each a few hundred characters.
   */
  requestBytes: 64 * 1024,
  testCommands: 32,
  /** One test command's characters: a shell-form string, or each argument of an exec-form array. */
  commandChars: 8192,
  tags: 16,
  buildArgs: 64,
  testEnv: 64,
  gpus: 16,
  phaseSeconds: 21600,
  cpu: { minimum: 100, maximum: 256000 },
  memory: { minimum: 64, maximum: 16777216 },
} as const

const Seconds = (what: string, def: number) =>
  t.Integer({
    minimum: 1,
    maximum: limits.phaseSeconds,
    default: def,
    description: `${what}, in seconds (1 to ${limits.phaseSeconds}; default ${def}).`,
  })

export const TestSpec = t.Object(
  {
    commands: t.Optional(
      t.Array(
        t.Union([
          t.String({ minLength: 1, maxLength: limits.commandChars, description: "Run by the image's /bin/sh -c (shell form)." }),
          t.Array(t.String({ maxLength: limits.commandChars }), {
            minItems: 1,
            maxItems: 256,
            description: 'Run as-is, for images without a shell (exec form).',
          }),
        ]),
        {
          maxItems: limits.testCommands,
          description:
            'Test commands, each run in its own container from the built image, in parallel. A string runs under /bin/sh -c; an array runs as-is. Example: ["go test ./...", ["/app", "--selftest"]].',
        },
      ),
    ),
    entrypoint: t.Optional(
      t.Boolean({ description: "Run the image's own ENTRYPOINT/CMD as one more test (it must exit 0)." }),
    ),
    env: t.Optional(
      t.Record(t.String({ pattern: envNamePattern }), t.String({ maxLength: 4096 }), {
        additionalProperties: false,
        maxProperties: limits.testEnv,
        description: 'Environment variables for the test commands (names: letters, digits, _).',
      }),
    ),
    timeout: t.Optional(Seconds('Time limit of each test command', defaults.testTimeout)),
    gpus: t.Optional(
      t.Object(
        {
          count: t.Integer({ minimum: 1, maximum: limits.gpus, description: 'GPUs for each test command.' }),
          vendor: t.Optional(t.String({ pattern: gpuVendorPattern, description: 'Device vendor (default nvidia).' })),
          model: t.Optional(
            t.String({ pattern: gpuModelPattern, description: 'Exact device model, e.g. "Tesla T4".' }),
          ),
        },
        { additionalProperties: false, description: 'GPUs the test phase needs, e.g. {"count": 1}.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Tests run inside the built image; publish happens only if every one exits 0.' },
)

export const JobRequest = t.Object(
  {
    repo: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 2048,
        description:
          'Git repository URL: https://, ssh:// or git@host:path (git:// and http:// only where the server allows them). Give repo or source, not both.',
        examples: ['https://github.com/acme/app.git'],
      }),
    ),
    source: t.Optional(
      t.String({
        pattern: sourcePattern,
        description:
          'An uploaded directory instead of repo: the id POST /v1/sources answered (`nbs upload DIR`), "sha256:" and 64 hex digits. Your own uploads only; it must not have expired.',
        examples: ['sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
      }),
    ),
    ref: t.Optional(
      t.String({
        pattern: refPattern,
        description: "Branch, tag or commit to build, with repo only (default: the remote's default branch).",
      }),
    ),
    context: t.Optional(
      t.String({
        maxLength: 1024,
        pattern: relativePathPattern,
        description: 'Build context: a sub-directory of the repository or the uploaded directory (default: its root).',
      }),
    ),
    dockerfile: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 1024,
        pattern: relativePathPattern,
        description: 'Path of the Dockerfile inside the context (default: Dockerfile, else Containerfile).',
      }),
    ),
    buildArgs: t.Optional(
      t.Record(t.String({ pattern: envNamePattern }), t.String({ maxLength: 4096 }), {
        additionalProperties: false,
        maxProperties: limits.buildArgs,
        description: 'Build arguments (--build-arg NAME=VALUE). Not for secrets: they are recorded in the job.',
      }),
    ),
    target: t.Optional(
      t.String({ pattern: targetPattern, description: 'Stage of a multi-stage Dockerfile to build.' }),
    ),
    noCache: t.Optional(
      t.Boolean({ description: "true: run every step again instead of reusing the node's layer cache, or the image it built from the same tree and settings (default false)." }),
    ),
    cache: t.Optional(
      t.Object(
        {
          registry: t.Optional(
            t.String({
              maxLength: 255,
              pattern: imagePattern,
              description:
                "Registry repository, without a tag, that shares this build's layers between nodes (Buildah --cache-from/--cache-to): a node without them in its store pulls them from there, and new ones are pushed as they are built. On the image's registry (it uses secrets.registry too), and not the image's own repository: cache layers are pushed before the tests decide. E.g. 127.0.0.1:5000/team/app-cache.",
            }),
          ),
        },
        { additionalProperties: false, description: "Layer cache beyond the node's own store." },
      ),
    ),
    image: t.String({
      maxLength: 255,
      pattern: imagePattern,
      description: 'Image repository to publish to, without a tag, e.g. 127.0.0.1:5000/team/app.',
    }),
    tags: t.Optional(
      t.Array(t.String({ pattern: tagPattern }), {
        minItems: 1,
        maxItems: limits.tags,
        description: 'Tags to push (default: the job id). Letters, digits, _ . - ; at most 128 characters.',
      }),
    ),
    test: t.Optional(TestSpec),
    secrets: t.Optional(SecretRefs),
    timeouts: t.Optional(
      t.Object(
        {
          build: t.Optional(Seconds('Time limit of clone and build', defaults.buildTimeout)),
          publish: t.Optional(Seconds('Time limit of the push', defaults.publishTimeout)),
        },
        { additionalProperties: false },
      ),
    ),
    resources: t.Optional(
      t.Object(
        {
          cpu: t.Optional(
            t.Integer({ ...limits.cpu, default: defaults.cpu, description: `CPU per task, MHz (default ${defaults.cpu}; a share, not a cap).` }),
          ),
          memory: t.Optional(
            t.Integer({ ...limits.memory, default: defaults.memory, description: `Memory per task, MB (default ${defaults.memory}).` }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

export type JobRequest = Static<typeof JobRequest>
export type TestSpec = Static<typeof TestSpec>
export type TestCommand = NonNullable<TestSpec['commands']>[number]
