// The dev stack's addresses follow its port variables: `nbs dev env` exports them, and a request
// file names them as ${NBS_DEV_GIT} and ${NBS_DEV_REGISTRY}, which `nbs submit -f` fills in.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { requestFromFlags } from '../../src/cli/request-options'
import { devPorts } from '../../src/dev/paths'
import { devShellEnv, devStack } from '../../src/dev/stack'

const dir = mkdtempSync(join(tmpdir(), 'nbs-dev-addresses-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const helloWorld = resolve(import.meta.dir, '../../examples/hello-world/nbs.yaml')
const moved = { NBS_DEV_NOMAD_PORT: '34646', NBS_DEV_REGISTRY_PORT: '35000', NBS_DEV_GIT_PORT: '39418', NBS_DEV_SERVER_PORT: '38080' }

describe('nbs dev env', () => {
  test('exports NBS_SERVER and the Git server and registry, all on the moved ports', () => {
    const env = devShellEnv(devStack({ NBS_STATE_DIR: dir, ...moved }))
    expect(env).toMatchObject({
      NBS_SERVER: 'http://127.0.0.1:38080',
      NBS_LISTEN: '127.0.0.1:38080',
      NBS_NOMAD_ADDR: 'http://127.0.0.1:34646',
      NBS_DEV_GIT: 'git://127.0.0.1:39418',
      NBS_DEV_REGISTRY: '127.0.0.1:35000',
      NBS_INSECURE_REGISTRIES: '127.0.0.1:35000,localhost:35000',
    })
  })

  test('without NBS_DEV_PROFILE it describes the stack as it runs: a docker-profile stack gets its DOCKER_HOST', () => {
    const state = mkdtempSync(join(dir, 'state-'))
    writeFileSync(join(state, 'profile'), 'docker\n')
    const env = { ...process.env, NBS_STATE_DIR: state, ...moved, NBS_DEV_PROFILE: '', DOCKER_HOST: '' }
    const out = (extra: Record<string, string>) =>
      Bun.spawnSync([process.execPath, resolve(import.meta.dir, '../../src/cli/main.ts'), 'dev', 'env'], { env: { ...env, ...extra } }).stdout.toString()
    expect(out({})).toContain(`export DOCKER_HOST="unix://${state}/docker.sock"`)
    expect(out({})).toContain('export NBS_PROFILE="docker"')
    // Asked for by name, the profile named is described.
    expect(out({ NBS_DEV_PROFILE: 'raw_exec' })).not.toContain('DOCKER_HOST')
  })

  test('a port variable that is not a port is refused, naming it', () => {
    expect(() => devPorts({ NBS_DEV_GIT_PORT: 'nine' })).toThrow('NBS_DEV_GIT_PORT: expected a port number from 1 to 65535; got "nine"')
    expect(() => devPorts({ NBS_DEV_SERVER_PORT: '70000' })).toThrow('NBS_DEV_SERVER_PORT')
  })
})

describe('a request file naming the dev stack', () => {
  test('examples/hello-world follows the ports: from `nbs dev env`, else from the port variables, else the defaults', () => {
    const exported = devShellEnv(devStack({ NBS_STATE_DIR: dir, ...moved }))
    expect(requestFromFlags({ file: helloWorld }, exported)).toMatchObject({ repo: 'git://127.0.0.1:39418/hello-world', image: '127.0.0.1:35000/examples/hello-world' })
    expect(requestFromFlags({ file: helloWorld }, moved)).toMatchObject({ repo: 'git://127.0.0.1:39418/hello-world', image: '127.0.0.1:35000/examples/hello-world' })
    expect(requestFromFlags({ file: helloWorld }, {})).toMatchObject({ repo: 'git://127.0.0.1:9418/hello-world', image: '127.0.0.1:5000/examples/hello-world' })
    // Flags still win over the file.
    expect(requestFromFlags({ file: helloWorld, image: 'registry.example.com/team/app' }, {}).image).toBe('registry.example.com/team/app')
  })

  test("only those two names are filled in: the image's shell keeps its own ${…}; an unknown NBS_DEV name is refused", () => {
    const file = join(dir, 'req.yaml')
    writeFileSync(file, 'repo: ${NBS_DEV_GIT}/x\nimage: ${NBS_DEV_REGISTRY}/x\ntest:\n  commands: [\'test "${HOME}" = "$(cat /home)"\']\n')
    expect(requestFromFlags({ file }, {})).toEqual({ repo: 'git://127.0.0.1:9418/x', image: '127.0.0.1:5000/x', test: { commands: ['test "${HOME}" = "$(cat /home)"'] } })
    writeFileSync(file, 'repo: ${NBS_DEV_GIT_URL}/x\nimage: x\n')
    expect(() => requestFromFlags({ file }, {})).toThrow('--file: ${NBS_DEV_GIT_URL} is not a dev stack address; the file may name ${NBS_DEV_GIT} and ${NBS_DEV_REGISTRY}')
  })
})
