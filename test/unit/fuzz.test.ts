// Property-based: no request makes validation or rendering throw an untyped error, and no
// accepted request changes a part of the job spec that requests do not control.
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { loadConfig } from '../../src/config'
import { ServiceError } from '../../src/errors'
import { type RenderConfig, renderJob } from '../../src/jobs/render'
import { phaseScript } from '../../src/jobs/scripts'
import { validateRequest } from '../../src/jobs/validate'

const config: RenderConfig = { ...loadConfig({}), profile: 'raw_exec' }
const policy = { allowInsecureGit: true, secretPrefixes: ['nomad:nbs/', 'vault:kv/data/nbs/'], sshHostKeyChecking: true }
const nasty = fc.oneof(
  fc.string(),
  fc.constantFrom('{{ env "HOME" }}', '${NOMAD_ALLOC_ID}', '$(id)', '`id`', '"; rm -rf / #', '\n', '../..', '-x', 'a b', '\u0000', '}}{{'),
)
const maybe = <T>(a: fc.Arbitrary<T>, freq = 2) => fc.option(a, { nil: undefined, freq })
const textOrNasty = fc.oneof({ arbitrary: nasty, weight: 1 }, { arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,19}$/), weight: 6 })

const requestArb = fc.record(
  {
    repo: fc.oneof({ arbitrary: nasty, weight: 1 }, { arbitrary: fc.constantFrom('https://example.com/a.git', 'git://127.0.0.1:9418/x', 'git@h.example:a/b.git'), weight: 8 }),
    ref: maybe(textOrNasty),
    context: maybe(textOrNasty),
    dockerfile: maybe(textOrNasty),
    target: maybe(textOrNasty),
    buildArgs: maybe(fc.dictionary(fc.oneof(nasty, fc.constantFrom('A', 'B_2')), nasty, { maxKeys: 3 })),
    image: fc.oneof({ arbitrary: nasty, weight: 1 }, { arbitrary: fc.constantFrom('127.0.0.1:5000/team/app', 'registry.example.com/a/b'), weight: 8 }),
    tags: maybe(fc.array(textOrNasty, { maxLength: 3 })),
    test: maybe(
      fc.record(
        {
          commands: maybe(fc.array(fc.oneof(nasty, fc.array(nasty, { minLength: 1, maxLength: 3 })), { maxLength: 3 })),
          entrypoint: maybe(fc.boolean()),
          env: maybe(fc.dictionary(fc.constantFrom('X', 'Y'), nasty, { maxKeys: 2 })),
        },
        { requiredKeys: [] },
      ),
    ),
    secrets: maybe(
      fc.record({ registry: maybe(fc.oneof(nasty, fc.constantFrom('nomad:nbs/a/reg', 'vault:kv/data/nbs/a/reg', 'nomad:other/x'))) }, { requiredKeys: [] }),
    ),
    extra: maybe(nasty, 30),
  },
  { requiredKeys: ['repo', 'image'] },
)

const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
const script = { build: phaseScript('build'), test: phaseScript('test'), publish: phaseScript('publish') }

describe('fuzzing validation and rendering', () => {
  test('validation throws only ServiceErrors naming a field; rendering an accepted request never throws', () => {
    let accepted = 0
    fc.assert(
      fc.property(requestArb, (raw) => {
        const input = strip(raw as Record<string, unknown>)
        let request
        try {
          request = validateRequest(input, policy)
        } catch (e) {
          expect(e).toBeInstanceOf(ServiceError)
          expect((e as ServiceError).field).toBeTruthy()
          return
        }
        accepted++
        const job = renderJob({ id: '20261125-000000-abcdef', request, createdAt: new Date(0) }, config)
        // What the request must not control: the job's identity, kind, group and each task's program.
        expect([job.ID, job.Type, job.TaskGroups.length, job.Namespace]).toEqual(['nbs-20261125-000000-abcdef', 'batch', 1, 'default'])
        const tasks = job.TaskGroups[0]!.Tasks
        expect(tasks[0]!.Name).toBe('build')
        expect(tasks.at(-1)!.Name).toBe('publish')
        for (const t of tasks) {
          expect(t.Name).toMatch(/^(build|publish|test-\d+)$/)
          expect(t.Driver).toBe('raw_exec')
          expect(t.Config.command).toBe('/usr/bin/timeout')
          const args = t.Config.args as string[]
          expect(args.slice(2, 4)).toEqual(['/bin/sh', '-c'])
          expect(Object.values(script)).toContain(args[4] ?? 'missing')
          for (const [k, v] of Object.entries(t.Env ?? {})) {
            // Words of base64, or "-" for an empty item of a list.
            if (k.startsWith('NBS_B64_')) expect(v).toMatch(/^(?:(?:[A-Za-z0-9+/=]+|-)(?: |$))*$/)
            else expect(`${k}=${v}`).not.toMatch(/\{\{|\$\(|`/)
          }
          for (const tpl of t.Templates ?? []) {
            expect(tpl.EmbeddedTmpl).toMatch(/^\{\{ with (nomadVar|secret) "[A-Za-z0-9_~./-]+" \}\}\{\{ \.[A-Za-z0-9_.]+ \}\}\{\{ end \}\}$/)
            expect(tpl.DestPath).toMatch(/^secrets\/nbs\.[a-z_]+$/)
          }
        }
        expect(tasks.filter((t) => t.Name.startsWith('test-')).every((t) => !t.Templates && !t.Vault)).toBe(true)
      }),
      { numRuns: 2000 },
    )
    // The generator must reach the accepting side too, or the rendering half proves nothing.
    expect(accepted).toBeGreaterThan(20)
  })
})
