// The build request: one typebox schema for MCP, REST, the CLI's file format and the job's Meta.
import { type Static, Type as t } from '@sinclair/typebox'
import { SecretRefs } from './secrets'

// distribution/reference grammar: an optional registry host[:port], then lowercase path components.
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const domain = `${domainComponent}(?:\\.${domainComponent})*(?::[0-9]+)?`
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*'
export const imagePattern = `^(?:${domain}/)?${pathComponent}(?:/${pathComponent})*$`
export const tagPattern = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
const envNamePattern = '^[A-Za-z_][A-Za-z0-9_]*$'
// A relative path inside the repository: not absolute, no "..", and only the characters of
// ordinary file names (no quotes, braces, "$" or control characters).
const relativePathPattern = '^(?!/)(?!(?:.*/)?\\.\\.(?:/|$))[A-Za-z0-9._/@+ -]*$'

const Seconds = (what: string, def: number) =>
  t.Integer({ minimum: 1, maximum: 21600, default: def, description: `${what}, in seconds (1 to 21600; default ${def}).` })

export const TestSpec = t.Object(
  {
    commands: t.Optional(
      t.Array(
        t.Union([
          t.String({ minLength: 1, maxLength: 8192, description: "Run by the image's /bin/sh -c (shell form)." }),
          t.Array(t.String({ maxLength: 8192 }), {
            minItems: 1,
            maxItems: 256,
            description: 'Run as-is, for images without a shell (exec form).',
          }),
        ]),
        {
          maxItems: 32,
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
        maxProperties: 64,
        description: 'Environment variables for the test commands (names: letters, digits, _).',
      }),
    ),
    timeout: t.Optional(Seconds('Time limit of each test command', 600)),
    gpus: t.Optional(
      t.Object(
        {
          count: t.Integer({ minimum: 1, maximum: 16, description: 'GPUs for each test command.' }),
          vendor: t.Optional(t.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$', description: 'Device vendor (default nvidia).' })),
          model: t.Optional(
            t.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$', description: 'Exact device model, e.g. "Tesla T4".' }),
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
    repo: t.String({
      minLength: 1,
      maxLength: 2048,
      description: 'Git repository URL: https://, ssh:// or git@host:path (git:// and http:// only where the server allows them).',
      examples: ['https://github.com/acme/app.git'],
    }),
    ref: t.Optional(
      t.String({
        pattern: '^(?!-)[A-Za-z0-9._/@+-]{1,255}$',
        description: "Branch, tag or commit to build (default: the remote's default branch).",
      }),
    ),
    context: t.Optional(
      t.String({ maxLength: 1024, pattern: relativePathPattern, description: 'Build context: a sub-directory of the repository (default: its root).' }),
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
        maxProperties: 64,
        description: 'Build arguments (--build-arg NAME=VALUE). Not for secrets: they are recorded in the job.',
      }),
    ),
    target: t.Optional(
      t.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'Stage of a multi-stage Dockerfile to build.' }),
    ),
    image: t.String({
      maxLength: 255,
      pattern: imagePattern,
      description: 'Image repository to publish to, without a tag, e.g. 127.0.0.1:5000/team/app.',
    }),
    tags: t.Optional(
      t.Array(t.String({ pattern: tagPattern }), {
        minItems: 1,
        maxItems: 16,
        description: 'Tags to push (default: the job id). Letters, digits, _ . - ; at most 128 characters.',
      }),
    ),
    test: t.Optional(TestSpec),
    secrets: t.Optional(SecretRefs),
    timeouts: t.Optional(
      t.Object(
        { build: t.Optional(Seconds('Time limit of clone and build', 1800)), publish: t.Optional(Seconds('Time limit of the push', 600)) },
        { additionalProperties: false },
      ),
    ),
    resources: t.Optional(
      t.Object(
        {
          cpu: t.Optional(t.Integer({ minimum: 100, maximum: 256000, default: 200, description: 'CPU per task, MHz (default 200; a share, not a cap).' })),
          memory: t.Optional(
            t.Integer({ minimum: 64, maximum: 16777216, default: 1024, description: 'Memory per task, MB (default 1024).' }),
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

export const defaults = { buildTimeout: 1800, testTimeout: 600, publishTimeout: 600, cpu: 200, memory: 1024 } as const
