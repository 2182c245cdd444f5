// The dev Git server's repositories: each folder under examples/ becomes a repo served over git://.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

async function git(cwd: string, ...args: string[]): Promise<string> {
  const p = Bun.spawn(['git', ...args], {
    cwd,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, GIT_AUTHOR_NAME: 'nbs dev', GIT_AUTHOR_EMAIL: 'dev@nbs.invalid', GIT_COMMITTER_NAME: 'nbs dev', GIT_COMMITTER_EMAIL: 'dev@nbs.invalid' },
  })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`git ${args.join(' ')} (in ${cwd}) failed: ${err.trim()}`)
  return out
}

/**
 * Makes (or updates) bare repo `<gitRoot>/<name>` from `files`, a folder; `/bin/busybox` is added
 * as `busybox` so that `FROM scratch` images get a shell without pulling a base image.
 */
export async function publishRepo(gitRoot: string, name: string, files: string, message = 'update from examples'): Promise<string> {
  const bare = join(gitRoot, name)
  const work = join(gitRoot, '.work', name)
  if (!existsSync(bare)) {
    mkdirSync(bare, { recursive: true })
    await git(bare, 'init', '-q', '--bare', '--initial-branch=main')
    // Fetching a commit by id (a build's `ref`) needs this on the serving side.
    await git(bare, 'config', 'uploadpack.allowAnySHA1InWant', 'true')
    await git(bare, 'config', 'daemon.receivepack', 'true')
  }
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  await git(work, 'init', '-q', '--initial-branch=main')
  await git(work, 'remote', 'add', 'origin', bare)
  const heads = await git(bare, 'branch', '--list', 'main')
  if (heads.trim()) {
    await git(work, 'fetch', '-q', 'origin', 'main')
    await git(work, 'reset', '-q', '--hard', 'FETCH_HEAD')
  }
  for (const entry of readdirSync(work)) if (entry !== '.git') rmSync(join(work, entry), { recursive: true, force: true })
  // Symlinks as committed: fs.cp would otherwise make relative targets absolute.
  cpSync(files, work, { recursive: true, verbatimSymlinks: true })
  if (existsSync('/bin/busybox')) cpSync('/bin/busybox', join(work, 'busybox'))
  await git(work, 'add', '-A')
  if ((await git(work, 'status', '--porcelain')).trim()) await git(work, 'commit', '-q', '-m', message)
  await git(work, 'push', '-q', 'origin', 'HEAD:main')
  const head = (await git(work, 'rev-parse', 'HEAD')).trim()
  rmSync(work, { recursive: true, force: true })
  return head
}

export async function publishExamples(gitRoot: string, examples: string): Promise<string[]> {
  const names = readdirSync(examples, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)
  for (const name of names) await publishRepo(gitRoot, name, join(examples, name))
  return names
}
