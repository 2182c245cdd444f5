import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { builderTag } from '../../src/builder/definition'
import { nomadDaemon } from '../../src/dev/nomad-agent'
import { runningPid, startDaemon } from '../../src/dev/process'
import { claimProfile, devStack, devServiceEnv } from '../../src/dev/stack'

const state = mkdtempSync(join(tmpdir(), 'nbs-dev-profile-'))
afterAll(() => rmSync(state, { recursive: true, force: true }))
const env = { NBS_STATE_DIR: state, NBS_DEV_REGISTRY_PORT: '15999' }

describe('the dev stack profiles', () => {
  test('raw_exec stays the default and needs no Docker', () => {
    const s = devStack(env)
    expect(s.profile).toBe('raw_exec')
    const e = devServiceEnv(s)
    expect(e.NBS_PROFILE).toBe('raw_exec')
    expect(e.DOCKER_HOST).toBeUndefined()
    expect(() => devStack({ ...env, NBS_DEV_PROFILE: 'podman' })).toThrow('NBS_DEV_PROFILE')
  })

  test('docker: the builder image from the dev registry, host networking, the stack\'s engine, a store of its own', () => {
    const s = devStack({ ...env, NBS_DEV_PROFILE: 'docker' })
    const e = devServiceEnv(s)
    expect(e.NBS_PROFILE).toBe('docker')
    expect(e.NBS_BUILDAH_IMAGE).toBe(`127.0.0.1:15999/nbs/builder:${builderTag()}`)
    expect(e.NBS_DOCKER_NETWORK).toBe('host')
    expect(e.DOCKER_HOST).toBe(`unix://${state}/docker.sock`)
    expect(s.paths.cache).not.toBe(devStack(env).paths.cache)
    const other = devStack({ ...env, NBS_DEV_PROFILE: 'docker', DOCKER_HOST: 'unix:///run/other.sock' })
    expect([devServiceEnv(other).DOCKER_HOST, other.docker?.own]).toEqual(['unix:///run/other.sock', false])
    expect(devStack({ ...env, NBS_DEV_PROFILE: 'docker', DOCKER_HOST: e.DOCKER_HOST }).docker?.own).toBe(true)
  })

  test("the agent's docker driver is pointed at the engine: nomadlite's flag, or real Nomad's plugin block", async () => {
    const s = devStack({ ...env, NBS_DEV_PROFILE: 'docker' })
    const endpoint = `unix://${state}/docker.sock`
    const lite = await nomadDaemon(s.paths, s.ports, () => {}, endpoint, { NBS_NOMADLITE_BIN: '/bin/true' })
    expect(lite.args.slice(-2)).toEqual(['-docker-endpoint', endpoint])
    const real = await nomadDaemon(s.paths, s.ports, () => {}, endpoint, { NBS_NOMAD_BIN: '/bin/true' })
    const hcl = readFileSync(real.args.at(-1)!, 'utf8')
    expect(hcl).toContain(`plugin "docker" {\n  config {\n    endpoint = "${endpoint}"\n    volumes { enabled = true }`)
    const plain = await nomadDaemon(s.paths, s.ports, () => {}, undefined, { NBS_NOMAD_BIN: '/bin/true' })
    expect(readFileSync(plain.args.at(-1)!, 'utf8')).not.toContain('plugin "docker"')
  })
})

describe('switching profiles', () => {
  // A stack "running" the docker profile: its profile file, and one of its daemons alive.
  const dockerStack = () => {
    const dir = mkdtempSync(join(state, 'switch-'))
    writeFileSync(join(dir, 'profile'), 'docker')
    startDaemon(dir, dir, { name: 'registry', command: 'sleep', args: ['60'] })
    expect(runningPid(dir, 'registry')).toBeNumber()
    return dir
  }

  test('a stack running the other profile is refused, naming both ways out, and left running', async () => {
    const dir = dockerStack()
    const e = await claimProfile(devStack({ NBS_STATE_DIR: dir }), () => {}, []).catch((x: Error) => x)
    expect((e as Error).message).toContain('runs the docker profile: run `nbs dev down` first (or `nbs dev up --switch`), or set NBS_DEV_PROFILE=docker')
    expect(runningPid(dir, 'registry')).toBeNumber()
    expect(readFileSync(join(dir, 'profile'), 'utf8')).toBe('docker')
    await claimProfile(devStack({ NBS_STATE_DIR: dir }), () => {}, [], true)
  })

  test('--switch stops it first, then the stack is the new profile', async () => {
    const dir = dockerStack()
    const said: string[] = []
    // Another live process on one of the stopped stack's ports is the port check's to name, not
    // something the switch waits for (CI runs this beside a dev stack that holds the defaults).
    const other = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    const stack = devStack({ NBS_STATE_DIR: dir, NBS_DEV_REGISTRY_PORT: String(other.port) })
    const switched = await claimProfile(stack, (m) => said.push(m), [], true).then(() => 'switched', (x: Error) => x.message)
    other.stop(true)
    expect(switched).toBe('switched')
    expect(runningPid(dir, 'registry')).toBeUndefined()
    expect(readFileSync(join(dir, 'profile'), 'utf8')).toBe('raw_exec')
    expect(said).toEqual(['the stack runs the docker profile: stopping it for raw_exec', 'registry: stopped'])
    // Claimed once, the same profile is claimed again without stopping anything.
    await claimProfile(devStack({ NBS_STATE_DIR: dir }), (m) => said.push(m), [])
    expect(said).toHaveLength(2)
  })
})
