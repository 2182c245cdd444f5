// SSH clones verify the Git server: a real sshd (Debian's openssh-server) on a private port of
// 127.0.0.1 with a host key of its own serves a dev repository; the build trusts only the host
// keys its request names.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensurePackages } from '../../src/dev/packages'
import { ServiceError } from '../../src/errors'
import { BuildService } from '../../src/service/build-service'
import { busyboxDockerfile, config, ensureStack, gitRepo, nomad, stack, urls } from '../support/dev-stack'
import { freePort, nomadJobIds } from '../support/surfaces'

const dir = mkdtempSync(join(tmpdir(), 'nbs-sshd-'))
const sshdLog = join(dir, 'sshd.log')
let port: number
let sshd: ReturnType<typeof Bun.spawn> | undefined
let repo: string
const image = `${urls.registry}/e2e/ssh`
const varPath = (what: string) => `nbs/e2e/ssh-${what}-${port}`

const keygen = (name: string) => {
  const r = Bun.spawnSync(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)])
  if (r.exitCode !== 0) throw new Error(`ssh-keygen: ${r.stderr.toString()}`)
}
/** A known_hosts line for the sshd's address (OpenSSH writes a non-22 port as [host]:port). */
const knownHost = (hostKey: string) => `[127.0.0.1]:${port} ${readFileSync(join(dir, `${hostKey}.pub`), 'utf8').split(' ').slice(0, 2).join(' ')}\n`
const accepted = () => (readFileSync(sshdLog, 'utf8').match(/Accepted publickey/g) ?? []).length

beforeAll(async () => {
  await ensureStack()
  await ensurePackages(() => {}, [{ bin: '/usr/sbin/sshd', pkg: 'openssh-server' }])
  port = await freePort()
  keygen('host_key')
  keygen('other_host_key')
  keygen('client_key')
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')))
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_key`,
      'PidFile none',
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      // The files live under /tmp, which StrictModes would refuse (world-writable parent).
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      '',
    ].join('\n'),
  )
  // sshd's privilege separation directory; the Debian unit makes it, and no unit runs here.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  sshd = Bun.spawn(['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')], { stdout: 'ignore', stderr: Bun.file(sshdLog) })
  for (let i = 0; i < 100 && !readFileSync(sshdLog, 'utf8').includes('Server listening'); i++) await Bun.sleep(50)
  expect(readFileSync(sshdLog, 'utf8')).toContain(`Server listening on 127.0.0.1 port ${port}`)

  await gitRepo('ssh-hello', { Dockerfile: busyboxDockerfile('RUN echo came-over-ssh > /hello') })
  // Who the tasks log in as: this machine's user (os.userInfo() under Bun can say "unknown").
  const user = Bun.spawnSync(['id', '-un']).stdout.toString().trim()
  repo = `ssh://${user}@127.0.0.1:${port}${stack.paths.git}/ssh-hello`
  const key = readFileSync(join(dir, 'client_key'), 'utf8')
  await nomad.variables.put(varPath('deploy'), { ssh_key: key, known_hosts: knownHost('host_key') })
  await nomad.variables.put(varPath('wrong'), { known_hosts: knownHost('other_host_key') })
}, 300_000)

afterAll(async () => {
  sshd?.kill()
  for (const what of ['deploy', 'wrong']) await nomad.variables.delete(varPath(what)).catch(() => {})
})

const submitAndWait = async (svc: BuildService, secrets: Record<string, string>) => {
  const sub = await svc.submitJob({ repo, image, secrets, test: { commands: ['test "$(cat /hello)" = came-over-ssh'] } })
  return { id: sub.id, status: await svc.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 150 }) }
}

describe('SSH clones check the host key', () => {
  test('the right known_hosts: the clone goes through and the build SUCCEEDS; the key is in no log', async () => {
    const before = accepted()
    const { id, status } = await submitAndWait(new BuildService(nomad, config), {
      gitSsh: `nomad:${varPath('deploy')}`,
      gitKnownHosts: `nomad:${varPath('deploy')}`,
    })
    expect(status.status).toBe('SUCCEEDED')
    expect(accepted()).toBeGreaterThan(before)
    const log = (await new BuildService(nomad, config).getLogs({ id, phase: 'build', tail: 0 })).logs[0]?.text ?? ''
    expect(log).toContain("ssh: the Git server's host key must be one of secrets.gitKnownHosts (1 lines)")
    expect(log).not.toContain('PRIVATE KEY')
  }, 200_000)

  test('a wrong known_hosts: FAILED build_failed, ssh says why, and the key was never offered to the server', async () => {
    const before = accepted()
    const { id, status } = await submitAndWait(new BuildService(nomad, config), {
      gitSsh: `nomad:${varPath('deploy')}`,
      gitKnownHosts: `nomad:${varPath('wrong')}`,
    })
    expect(status.status).toBe('FAILED')
    expect(status.failure?.reason).toBe('build_failed')
    const log = (await new BuildService(nomad, config).getLogs({ id, phase: 'build', tail: 0 })).logs[0]?.text ?? ''
    expect(log).toContain('Host key verification failed')
    expect(accepted()).toBe(before)
  }, 200_000)

  test('no known_hosts: refused before Nomad, naming the field and the operator setting', async () => {
    const jobs = await nomadJobIds()
    const e = await new BuildService(nomad, config).submitJob({ repo, image, secrets: { gitSsh: `nomad:${varPath('deploy')}` } }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ServiceError)
    expect((e as ServiceError).field).toBe('secrets.gitKnownHosts')
    expect((e as ServiceError).message).toContain('NBS_SSH_HOST_KEY_CHECKING=off')
    expect((await nomadJobIds()).filter((j) => !jobs.includes(j))).toEqual([])
  })

  test('host-key checking turned off by the operator: a request without known_hosts trusts the key on first use', async () => {
    const { status } = await submitAndWait(new BuildService(nomad, { ...config, sshHostKeyChecking: false }), { gitSsh: `nomad:${varPath('deploy')}` })
    expect(status.status).toBe('SUCCEEDED')
  }, 200_000)
})
