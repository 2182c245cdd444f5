import { refusal as refuse } from '../support/refusal'
import { describe, expect, test } from 'bun:test'
import { ServiceError } from '../../src/errors'
import { limits } from '../../src/jobs/request'
import { fieldName, repoUrlError, validateRequest } from '../../src/jobs/validate'

const ok = { repo: 'https://example.com/acme/app.git', image: 'registry.example.com/acme/app' }
const strict = { allowInsecureGit: false, secretPrefixes: ['nomad:nbs/team-a/', 'vault:kv/data/nbs/team-a/'], sshHostKeyChecking: true }
const dev = { ...strict, allowInsecureGit: true }

const refusal = (input: unknown, policy = strict) => refuse(input, policy)

describe('request validation', () => {
  test('a minimal request passes and comes back unchanged', () => {
    expect(validateRequest(ok, strict)).toEqual(ok)
  })

  test('JSON pointers read as field names', () => {
    expect(fieldName('/test/commands/0')).toBe('test.commands[0]')
    expect(fieldName('/buildArgs/A~1B')).toBe('buildArgs.A/B')
    expect(fieldName('')).toBe('(body)')
  })

  test.each([
    ['unknown field', { ...ok, extra: 1 }, 'extra', 'unknown field'],
    ['missing image', { repo: ok.repo }, 'image', 'is required'],
    ['missing repo', { image: ok.image }, 'repo', 'is required'],
    ['image with a tag', { ...ok, image: 'registry.example.com/acme/app:v1' }, 'image', 'without a tag'],
    ['uppercase image path', { ...ok, image: 'registry.example.com/Acme/app' }, 'image', 'must be a lowercase repository path'],
    ['tag with a slash', { ...ok, tags: ['a/b'] }, 'tags[0]', 'must be 1 to 128 letters, digits, _ . or -'],
    ['tag with shell characters', { ...ok, tags: ['v1;rm -rf'] }, 'tags[0]', 'must be 1 to 128 letters, digits, _ . or -'],
    ['ref starting with a dash', { ...ok, ref: '--upload-pack=evil' }, 'ref', 'not starting with -'],
    ['context leaving the repo', { ...ok, context: '../etc' }, 'context', 'no .. part'],
    ['absolute dockerfile', { ...ok, dockerfile: '/etc/passwd' }, 'dockerfile', 'no leading /'],
    ['build arg name', { ...ok, buildArgs: { 'A-B': 'x' } }, 'buildArgs.A-B', 'not an allowed name'],
    ['test command of the wrong type', { ...ok, test: { commands: [42] } }, 'test.commands[0]', ''],
    ['empty test', { ...ok, test: {} }, 'test', 'needs at least one of commands'],
    ['memory below the floor', { ...ok, resources: { memory: 1 } }, 'resources.memory', 'expected integer to be greater'],
    ['timeout of zero', { ...ok, timeouts: { build: 0 } }, 'timeouts.build', ''],
  ])('%s is refused naming the field', (_, input, field, words) => {
    const e = refusal(input)
    expect(e.code).toBe('invalid_request')
    expect(e.details?.map((d) => d.field)).toContain(field)
    expect(e.message).toContain(field)
    if (words) expect(e.message.toLowerCase()).toContain(words.toLowerCase())
  })

  test('a test command over its length is told the limit and its length, not its kind', () => {
    const long = 'x'.repeat(limits.commandChars + 808)
    expect(refusal({ ...ok, test: { commands: [long] } }).message).toBe('test.commands[0]: at most 8192 characters (got 9000)')
    // An exec-form argument is named by its place in the array.
    expect(refusal({ ...ok, test: { commands: ['true', ['/app', long]] } }).message).toBe('test.commands[1][1]: at most 8192 characters (got 9000)')
    expect(refusal({ ...ok, test: { commands: [''] } }).message).toBe('test.commands[0]: must not be empty')
    // A value of neither kind still hears both kinds.
    expect(refusal({ ...ok, test: { commands: [42] } }).message).toBe('test.commands[0]: must be a string or an array of strings (got a number)')
  })

  test.each([
    [{ ...ok, test: { command: ['true'] } }, 'test.command: unknown field; did you mean `commands`?'],
    [{ ...ok, dockerFile: 'Dockerfile' }, 'dockerFile: unknown field; did you mean `dockerfile`?'],
    [{ ...ok, timeouts: { biuld: 60 } }, 'timeouts.biuld: unknown field; did you mean `build`?'],
    [{ ...ok, secrets: { regsitry: 'nomad:nbs/team-a/r' } }, 'secrets.regsitry: unknown field; did you mean `registry`?'],
    // Nothing close: no guess.
    [{ ...ok, bogus: 1 }, 'bogus: unknown field'],
    [{ ...ok, test: { commands: ['true'], network: 'host' } }, 'test.network: unknown field'],
  ])('an unknown field suggests the known one it is close to: %j', (input, message) => {
    expect(refusal(input).message).toBe(message)
  })

  test('every field at fault is listed, not only the first', () => {
    const e = refusal({ repo: 'https://x.example/r', image: 'BAD', tags: ['ok', '!'], bogus: true })
    expect(e.details?.map((d) => d.field).sort()).toEqual(['bogus', 'image', 'tags[1]'])
  })
})

describe('secret references', () => {
  test('references under an allowed prefix pass', () => {
    const secrets = { registry: 'vault:kv/data/nbs/team-a/registry', git: 'nomad:nbs/team-a/git', build: { npm: 'nomad:nbs/team-a/npm#token' } }
    expect(validateRequest({ ...ok, secrets }, strict).secrets).toEqual(secrets)
  })

  test.each([
    ['outside the allow list', { registry: 'nomad:nbs/team-b/registry' }, 'secrets.registry', 'outside the prefixes'],
    ['a value instead of a reference', { registry: 'hunter2' }, 'secrets.registry', 'must be a reference, never a value'],
    ['template delimiters in the path', { registry: 'nomad:nbs/team-a/{{ env "HOME" }}' }, 'secrets.registry', 'must be a reference, never a value'],
    ['a quote that would close the template string', { git: 'nomad:nbs/team-a/x" }}{{ env "A' }, 'secrets.git', 'must be a reference, never a value'],
    ['an unknown backend', { registry: 'file:/etc/shadow' }, 'secrets.registry', '"nomad:<variable path>" or "vault:<kv path>"'],
    ['a build secret id with shell characters', { build: { 'a;b': 'nomad:nbs/team-a/x' } }, 'secrets.build.a;b', 'not an allowed name'],
    ['both git credential kinds', { git: 'nomad:nbs/team-a/g', gitSsh: 'nomad:nbs/team-a/k' }, 'secrets.gitSsh', 'not both'],
    ['an unknown kind', { aws: 'nomad:nbs/team-a/aws' }, 'secrets.aws', 'unknown field'],
  ])('%s is refused', (_, secrets, field, words) => {
    const e = refusal({ ...ok, secrets })
    expect(e.details?.map((d) => d.field)).toContain(field)
    expect(e.message).toContain(words)
  })

  test('an SSH key without host keys is refused, naming the field and the setting that allows it', () => {
    const e = refusal({ ...ok, repo: 'ssh://git@git.example.com/acme/app.git', secrets: { gitSsh: 'vault:kv/data/nbs/team-a/deploy' } })
    expect(e.field).toBe('secrets.gitKnownHosts')
    expect(e.message).toContain('secrets.gitKnownHosts: is required with gitSsh')
    expect(e.message).toContain('NBS_SSH_HOST_KEY_CHECKING=off')
  })

  test('host keys are a reference under the allowed prefixes too; the gitSsh secret itself may hold them', () => {
    const both = { gitSsh: 'vault:kv/data/nbs/team-a/deploy', gitKnownHosts: 'vault:kv/data/nbs/team-a/deploy' }
    expect(validateRequest({ ...ok, secrets: both }, strict).secrets).toEqual(both)
    const e = refusal({ ...ok, secrets: { ...both, gitKnownHosts: 'vault:kv/data/nbs/team-b/hosts' } })
    expect(e.field).toBe('secrets.gitKnownHosts')
    expect(e.message).toContain('outside the prefixes')
  })

  test('with host-key checking off (the operator\'s choice) an SSH key alone passes', () => {
    const secrets = { gitSsh: 'nomad:nbs/team-a/deploy' }
    expect(validateRequest({ ...ok, secrets }, { ...strict, sshHostKeyChecking: false }).secrets).toEqual(secrets)
  })

  test('a client with no prefixes may use no reference at all', () => {
    const e = refusal({ ...ok, secrets: { registry: 'nomad:nbs/team-a/registry' } }, { ...strict, secretPrefixes: [] })
    expect(e.message).toContain('may not use secret references')
  })
})

describe('repository URLs', () => {
  test.each(['https://github.com/a/b.git', 'ssh://git@host.example:2222/a/b.git', 'git@github.com:a/b.git'])('%s is allowed', (url) => {
    expect(repoUrlError(url, strict)).toBeUndefined()
  })

  test.each([
    ['file:///etc', 'scheme file://'],
    ['ext::sh -c id', 'without spaces'],
    ['/srv/repo', 'is not a URL'],
    ['-u evil', 'leading'],
    ['git://127.0.0.1:9418/x', 'scheme git://'],
    ['http://example.com/x', 'scheme http://'],
    ['https://user:secret@example.com/x', 'password'],
  ])('%s is refused', (url, words) => {
    expect(repoUrlError(url, strict)).toContain(words)
  })

  test('git:// and http:// pass only where the server allows them', () => {
    expect(repoUrlError('git://127.0.0.1:9418/x', dev)).toBeUndefined()
    expect(repoUrlError('http://127.0.0.1/x', dev)).toBeUndefined()
    expect(refusal({ ...ok, repo: 'git://127.0.0.1:9418/x' }).field).toBe('repo')
  })
})

describe('noCache', () => {
  test('a value that is not a boolean is refused naming the field', () => {
    const e = refusal({ ...ok, noCache: 'yes' })
    expect(e.details?.map((d) => d.field)).toEqual(['noCache'])
  })
  test('true is accepted', () => {
    expect(validateRequest({ ...ok, noCache: true }, strict).noCache).toBe(true)
  })
})

describe('cache.registry', () => {
  test.each([
    ['another registry', { registry: 'other.example.com/acme/app-cache' }, "must be a repository on the image's registry, registry.example.com (it is other.example.com)"],
    ["the image's own repository", { registry: ok.image }, 'must be another repository than image: cache layers are pushed while building, before the tests decide'],
    ['a tag', { registry: 'registry.example.com/acme/app-cache:v1' }, 'without a tag'],
    ['uppercase', { registry: 'registry.example.com/Acme/cache' }, 'must be a lowercase repository path'],
  ])('%s is refused naming the field', (_what, cache, words) => {
    const e = refusal({ ...ok, cache })
    expect(e.details?.map((d) => d.field)).toEqual(['cache.registry'])
    expect(e.message).toContain(words)
  })
  test('an unknown field of cache is refused naming it', () => {
    expect(refusal({ ...ok, cache: { registry: 'registry.example.com/acme/app-cache', ttl: 1 } }).details?.map((d) => d.field)).toEqual(['cache.ttl'])
  })
  test("a repository of the image's registry is accepted", () => {
    expect(validateRequest({ ...ok, cache: { registry: 'registry.example.com/acme/app-cache' } }, strict).cache?.registry).toBe('registry.example.com/acme/app-cache')
  })
})

describe('tenant boundaries of secret references', () => {
  test.each([
    ['vault:kv/data/nbs/team-a/../team-b/registry'],
    ['vault:kv/data/nbs/team-a/./registry'],
    ['vault:kv/data/nbs/team-a/..'],
  ])('%s is refused: a . or .. segment would climb out of the allowed prefix', (ref) => {
    const e = refusal({ ...ok, secrets: { registry: ref } })
    expect(e.details?.map((d) => d.field)).toContain('secrets.registry')
  })

  test('prefixes match whole path segments: "nbs/team-a" does not admit "nbs/team-ab"', () => {
    const policy = { ...strict, secretPrefixes: ['nomad:nbs/team-a'] }
    expect(refusal({ ...ok, secrets: { registry: 'nomad:nbs/team-ab/registry' } }, policy).details?.[0]?.field).toBe('secrets.registry')
    expect(validateRequest({ ...ok, secrets: { registry: 'nomad:nbs/team-a/registry' } }, policy).secrets?.registry).toBe('nomad:nbs/team-a/registry')
  })

  test('a dot inside a segment name is still a name', () => {
    expect(validateRequest({ ...ok, secrets: { registry: 'vault:kv/data/nbs/team-a/reg.v2' } }, strict).secrets?.registry).toBe('vault:kv/data/nbs/team-a/reg.v2')
  })
})
