// Runs one task of a rendered docker-profile job with `docker run`, laid out as Nomad's docker
// driver lays it out (conformance scenario docker-driver): /alloc shared by the group, /local
// and a noexec tmpfs /secrets per task, writable by the task user; host volumes mounted.
import { chownSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Task } from '../src/nomad/types'

export interface TaskRun {
  code: number
  seconds: number
  output: string
}

/** `volumes`: the host directory of each volume the task mounts, by volume name. */
export async function runDockerTask(task: Task, allocId: string, allocRoot: string, volumes: Record<string, string>, dockerHost: string): Promise<TaskRun> {
  const alloc = join(allocRoot, 'alloc')
  const local = join(allocRoot, task.Name, 'local')
  for (const dir of [alloc, local]) {
    mkdirSync(dir, { recursive: true })
    chownSync(dir, 1000, 1000)
  }
  const c = task.Config as { image: string; command: string; args: string[]; network_mode?: string; security_opt: string[]; devices?: { host_path: string; container_path: string }[] }
  const env = { ...task.Env, NOMAD_ALLOC_DIR: '/alloc', NOMAD_TASK_DIR: '/local', NOMAD_SECRETS_DIR: '/secrets', NOMAD_TASK_NAME: task.Name, NOMAD_ALLOC_ID: allocId }
  const args = [
    ...['run', '--rm', '--user', task.User ?? 'root'],
    ...(c.network_mode ? ['--network', c.network_mode] : []),
    ...(c.devices ?? []).flatMap((d) => ['--device', `${d.host_path}:${d.container_path}`]),
    ...c.security_opt.flatMap((o) => ['--security-opt', o]),
    ...(task.VolumeMounts ?? []).flatMap((m) => ['-v', `${volumes[m.Volume]}:${m.Destination}${m.ReadOnly ? ':ro' : ''}`]),
    ...['-v', `${alloc}:/alloc`, '-v', `${local}:/local`, '--tmpfs', '/secrets:noexec,uid=1000,gid=1000'],
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...[c.image, c.command, ...c.args],
  ]
  const t0 = performance.now()
  const p = Bun.spawn(['docker', ...args], { env: { ...process.env, DOCKER_HOST: dockerHost }, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { code, seconds: (performance.now() - t0) / 1000, output: out + err }
}
