import { afterEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { renderJob } from '../../src/jobs/render'
import type { JobRequest } from '../../src/jobs/request'
import { phaseScript, taskPrelude } from '../../src/jobs/scripts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const TOKEN = 'workload-identity-token'
/** Nomad's Task API as a task sees it: a socket in its secrets dir that takes the workload identity's token. */
type TaskApi = (path: string) => Response
/** The servers' answer for an allocation they still want running (publish's fence passes). */
const wantedRunning: TaskApi = (path) => (path.startsWith('/v1/allocation/') ? Response.json({ ID: 'a1', DesiredStatus: 'run' }) : new Response('not found', { status: 404 }))

/**
 * Runs `script` the way the task does (sh -c), with an alloc dir and a secrets dir of its own;
 * `api` answers on secrets/api.sock with the task's token (the job's Identity.File), 401 without it.
 */
async function runTask(script: string, env: Record<string, string> = {}, secrets: Record<string, string> = {}, api?: TaskApi) {
  const alloc = mkdtempSync(join(tmpdir(), 'nbs-alloc-'))
  const secretsDir = mkdtempSync(join(tmpdir(), 'nbs-secrets-'))
  const taskDir = mkdtempSync(join(tmpdir(), 'nbs-local-'))
  dirs.push(alloc, secretsDir, taskDir)
  for (const [name, value] of Object.entries(secrets)) writeFileSync(join(secretsDir, name), value)
  const server = api
    ? Bun.serve({
        unix: join(secretsDir, 'api.sock'),
        fetch: (req) => (req.headers.get('x-nomad-token') === TOKEN ? api(new URL(req.url).pathname) : new Response('Unauthorized', { status: 401 })),
      })
    : undefined
  if (api) writeFileSync(join(secretsDir, 'nomad_token'), TOKEN)
  const full = { PATH: process.env.PATH ?? '/usr/bin:/bin', NOMAD_ALLOC_DIR: alloc, NOMAD_SECRETS_DIR: secretsDir, NOMAD_TASK_DIR: taskDir, NOMAD_TASK_NAME: 'task', NBS_OWN_LOG: '1', ...env }
  // Nomad makes the alloc dir's logs folder; a raw_exec task writes its own log there (common.sh: nbs_init).
  const log = join(full.NOMAD_ALLOC_DIR, 'logs', `${full.NOMAD_TASK_NAME}.stdout.0`)
  mkdirSync(join(full.NOMAD_ALLOC_DIR, 'logs'), { recursive: true })
  rmSync(log, { force: true })
  const p = Bun.spawn(['sh', '-c', script, 'nbs-test'], { env: full, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, code] = await Promise.all([new Response(p.stdout).text(), p.exited])
  server?.stop(true)
  const out = stdout + (existsSync(log) ? readFileSync(log, 'utf8') : '')
  return { out, code, alloc, secretsDir }
}

/** A store and a bin dir whose buildah notes each call in the store's `calls`, then runs `body` (sh). */
function fakeBuildah(body = ''): { store: string; bin: string } {
  const store = mkdtempSync(join(tmpdir(), 'nbs-store-'))
  const bin = mkdtempSync(join(tmpdir(), 'nbs-bin-'))
  dirs.push(store, bin)
  writeFileSync(join(bin, 'buildah'), `#!/bin/sh\necho "$*" >>"${store}/calls"\n${body}\n`, { mode: 0o755 })
  return { store, bin }
}

/** A Git repository with one commit: a Dockerfile FROM scratch. */
function oneCommitRepo(): string {
  const repo = mkdtempSync(join(tmpdir(), 'nbs-repo-'))
  dirs.push(repo)
  writeFileSync(join(repo, 'Dockerfile'), 'FROM scratch\n')
  expect(Bun.spawnSync(['sh', '-c', 'git init -q && git add Dockerfile && git -c user.name=t -c user.email=t@t commit -q -m d'], { cwd: repo }).exitCode).toBe(0)
  return repo
}

describe('phase scripts', () => {
  /** nbs_init then three lines, one on stderr, with NBS_OWN_LOG as render sets it for the profile. */
  async function initAndSay(ownLog: Record<string, string>) {
    const alloc = mkdtempSync(join(tmpdir(), 'nbs-alloc-'))
    dirs.push(alloc)
    mkdirSync(join(alloc, 'logs'))
    const p = Bun.spawn(['sh', '-c', `${taskPrelude}\nnbs_init\nsay one\necho two >&2\nsay three`], {
      env: { PATH: process.env.PATH ?? '', NOMAD_ALLOC_DIR: alloc, NOMAD_TASK_NAME: 'test-0', NOMAD_SECRETS_DIR: alloc, NOMAD_TASK_DIR: alloc, ...ownLog },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
    return { stdout, stderr, code, logs: readdirSync(join(alloc, 'logs')).sort(), alloc }
  }

  test("raw_exec: a phase writes its own log where Nomad's collector would (LogConfig.Disabled): stdout and stderr in order, nothing on the task's own output", async () => {
    const r = await initAndSay({ NBS_OWN_LOG: '1' })
    expect({ stdout: r.stdout, stderr: r.stderr, code: r.code }).toEqual({ stdout: '', stderr: '', code: 0 })
    expect(readFileSync(join(r.alloc, 'logs/test-0.stdout.0'), 'utf8')).toBe('==> nbs: one\ntwo\n==> nbs: three\n')
    expect(readFileSync(join(r.alloc, 'logs/test-0.stderr.0'), 'utf8')).toBe('')
  })

  test('docker: a phase writes to its own stdout (Nomad collects it; alloc/logs is read-only there), stderr joined, no log file made', async () => {
    const r = await initAndSay({})
    expect(r).toMatchObject({ stdout: '==> nbs: one\ntwo\n==> nbs: three\n', stderr: '', code: 0, logs: [] })
  })

  test('a cache volume the task user cannot write fails the build with exit 78 and an infrastructure marker naming path, uid and setting', async () => {
    const { out, code, alloc } = await runTask(phaseScript('build'), {
      NBS_STORE_DIR: '/dev/null',
      NBS_NODE_ID: 'node-1',
      NBS_CACHE_VOLUME: 'buildah-cache',
      NBS_STORAGE_DRIVER: 'auto',
      NBS_B64_REPO: '',
      NBS_B64_REF: '',
    })
    expect(code).toBe(78)
    const marker = readFileSync(join(alloc, 'nbs/infrastructure'), 'utf8')
    expect(marker).toContain('the cache volume buildah-cache (at /dev/null on node node-1) is not writable by uid')
    expect(marker).toContain(`uid ${process.getuid!()}`)
    expect(marker).toContain('NBS_CACHE_VOLUME')
    expect(out).toContain(marker.trim())
  })

  test('sourcing the prelude only defines: nothing is made, moved or masked until nbs_init', async () => {
    const { out, code, alloc, secretsDir } = await runTask(`${taskPrelude}\necho "token is hunter22"`, {}, { 'nbs.git_password': 'hunter22' })
    expect({ out, code }).toEqual({ out: 'token is hunter22\n', code: 0 })
    expect([existsSync(join(alloc, 'nbs')), existsSync(join(secretsDir, 'nbs.git_password'))]).toEqual([false, true])
  })

  test("a phase's own clean-up at exit runs before the masker closes the output, and its words are masked too", async () => {
    const { out, code } = await runTask(`${taskPrelude}\nnbs_init\nat_exit 'echo "cleaning up hunter22"'\necho started; exit 3`, {}, { 'nbs.git_password': 'hunter22' })
    expect(code).toBe(3)
    expect(out).toBe('started\ncleaning up ****\n')
  })

  test('secrets rendered as secrets/nbs.<name> move into the task\'s own folder (one it may remove them from), are masked, and other files stay', async () => {
    const { out, code, secretsDir } = await runTask(`${taskPrelude}\nnbs_init\necho "token is hunter22"; ls "$secrets"`, {}, {
      'nbs.git_password': 'hunter22',
      'nbs.git_username': 'bob-the-builder',
      'api.sock': '',
    })
    expect(code).toBe(0)
    expect(out).toContain('token is ****')
    expect(out).not.toContain('hunter22')
    expect(out.trim().split('\n').slice(-2)).toEqual(['git_password', 'git_username'])
    expect(existsSync(join(secretsDir, 'nbs.git_password'))).toBe(false)
    expect(statSync(join(secretsDir, 'nbs')).mode & 0o777).toBe(0o700)
    expect(existsSync(join(secretsDir, 'api.sock'))).toBe(true)
  })

  test('an exec-form test gets its arguments as given, empty ones and trailing newlines too, through the rendered environment and test.sh', async () => {
    const argv = ['/bin/busybox', 'sh', '-c', 'test $# = 2', 'zero', '', 'two words', 'ends in a newline\n', '\n\n', '']
    const store = mkdtempSync(join(tmpdir(), 'nbs-store-'))
    const bin = mkdtempSync(join(tmpdir(), 'nbs-bin-'))
    dirs.push(store, bin)
    // Buildah as the script calls it: a container name for "from", each argument of "run" ended by a NUL.
    writeFileSync(join(bin, 'buildah'), '#!/bin/sh\ncase " $* " in *" from "*) echo ctr ;; *" run "*) printf "%s\\0" "$@" ;; esac\n', { mode: 0o755 })
    const request: JobRequest = { repo: 'https://example.com/a.git', image: 'registry.example.com/a', test: { commands: [argv] } }
    const config = { ...loadConfig({}), profile: 'raw_exec' as const }
    const task = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date() }, config).TaskGroups[0]!.Tasks[1]!
    const { out, code } = await runTask(phaseScript('test'), { ...task.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: task.Name, NOMAD_ALLOC_ID: 'a1' })
    expect(code).toBe(0)
    const run = out.slice(out.indexOf('--root')).split('\0').slice(0, -1)
    expect(run.slice(run.indexOf('--') + 1)).toEqual(argv)
  })

  test('image names change only under the names lock, one Buildah at a time; the build builds without a name, then names its image', async () => {
    const store = mkdtempSync(join(tmpdir(), 'nbs-store-'))
    const bin = mkdtempSync(join(tmpdir(), 'nbs-bin-'))
    const repo = mkdtempSync(join(tmpdir(), 'nbs-repo-'))
    dirs.push(store, bin, repo)
    for (const c of [['init', '-q'], ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x']])
      expect(Bun.spawnSync(['git', ...c], { cwd: repo }).exitCode).toBe(0)
    writeFileSync(join(repo, 'Dockerfile'), 'FROM scratch\n')
    expect(Bun.spawnSync(['sh', '-c', 'git add Dockerfile && git -c user.name=t -c user.email=t@t commit -q -m d'], { cwd: repo }).exitCode).toBe(0)
    // Buildah as a log: whether another process holds the names lock (flock -n fails) and whether
    // Buildah got the lock's descriptor, then its arguments; bud prints its steps and, last, the image ID.
    const log = join(store, 'calls')
    writeFileSync(
      join(bin, 'buildah'),
      `#!/bin/sh
held=free; flock -n -x "${store}/nbs-names.lock" true || held=held
fd=no-fd8; [ -e /proc/$$/fd/8 ] && fd=fd8
echo "$held $fd $*" >>"${log}"
case " $* " in *" bud "*) printf 'STEP 1/2: FROM scratch\\nSTEP 2/2: COPY a /a\\n--> feedfeedfee\\nCOMMIT\\n--> feedfeedfee\\n${'feed'.repeat(16)}\\n' ;; esac
`,
      { mode: 0o755 },
    )
    const request: JobRequest = { repo, image: 'registry.example.com/a' }
    const config = { ...loadConfig({}), profile: 'raw_exec' as const, storageDriver: 'vfs' as const }
    const job = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date() }, config)
    const build = job.TaskGroups[0]!.Tasks.find((t) => t.Name === 'build')!
    const env = { ...build.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'build', NOMAD_ALLOC_ID: 'a1' }
    const built = await runTask(phaseScript('build'), env)
    expect({ code: built.code, out: built.code ? built.out : '' }).toEqual({ code: 0, out: '' })
    const { out, code } = await runTask(`${taskPrelude}\nnbs_init\nopen_store\nhold_store\nnames rmi "$NBS_LOCAL_IMAGE"`, env)
    expect([out, code]).toEqual(['', 0])
    const calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.replace(/--root \S+ --runroot \S+ --storage-driver vfs /, ''))
    const local = build.Env!.NBS_LOCAL_IMAGE!
    const cache = build.Env!.NBS_CACHE_IMAGE!
    expect(calls.filter((c) => / (bud|tag|rmi) /.test(` ${c} `))).toEqual([
      expect.stringMatching(/^free no-fd8 bud --isolation chroot --layers .*$/),
      `held no-fd8 tag ${'feed'.repeat(16)} ${local} ${cache}`,
      `held no-fd8 rmi ${local}`,
    ])
    expect(calls.find((c) => c.includes(' bud '))).not.toContain(' -t ')
  })

  // Buildah 1.28's words without --iidfile (seen here): a committed step says "--> <short ID>", a
  // cached one "--> Using cache <ID>" first; the image ID comes last.
  const id64 = 'c8e5de4a95354931d1878099fef3e83917a18a4a077a225b249cf30bfb4d644c'
  test.each([
    ['every step from the cache', `STEP 1/3: FROM scratch\nSTEP 2/3: COPY a /a\n--> Using cache ${id64}\n--> c8e5de4a953\nSTEP 3/3: ENV A=b\n--> Using cache ${id64}\n--> c8e5de4a953\nCOMMIT\n${id64}\n`, false],
    ['one step committed', `STEP 1/3: FROM scratch\nSTEP 2/3: COPY a /a\n--> Using cache ${id64}\n--> c8e5de4a953\nSTEP 3/3: ENV A=b\nCOMMIT\n--> c8e5de4a953\n${id64}\n`, true],
    ['a second stage from the cache', `[1/2] STEP 1/2: FROM scratch AS a\n[1/2] STEP 2/2: COPY a /a\n--> Using cache ${id64}\n--> c8e5de4a953\n[2/2] STEP 1/2: FROM a\n[2/2] STEP 2/2: ENV A=b\n--> Using cache ${id64}\nCOMMIT\n${id64}\n`, false],
    ['a first stage built', `[1/2] STEP 1/2: FROM scratch AS a\n[1/2] STEP 2/2: COPY a /a\n--> c8e5de4a953\n[2/2] STEP 1/2: FROM a\n[2/2] STEP 2/2: ENV A=b\n--> Using cache ${id64}\nCOMMIT\n${id64}\n`, true],
  ] as const)('a build with %s: the store is marked grown only if a layer was committed; the image ID is the last line', async (_, words, grew) => {
    const { store, bin } = fakeBuildah('case " $* " in *" bud "*) cat "$(dirname "$0")/words" ;; esac')
    writeFileSync(join(bin, 'words'), words)
    const repo = oneCommitRepo()
    const config = { ...loadConfig({}), profile: 'raw_exec' as const, storageDriver: 'vfs' as const }
    const build = renderJob({ id: '20261125-120000-abcdef', request: { repo, image: 'registry.example.com/a' }, createdAt: new Date() }, config).TaskGroups[0]!.Tasks[0]!
    const { out, code, alloc } = await runTask(phaseScript('build'), { ...build.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'build', NOMAD_ALLOC_ID: 'a1' })
    expect({ code, out: code ? out : '' }).toEqual({ code: 0, out: '' })
    expect(existsSync(join(store, 'nbs-store-grew'))).toBe(grew)
    expect(readFileSync(join(alloc, 'nbs/image-id'), 'utf8')).toBe(`${id64}\n`)
    expect(readFileSync(join(store, 'calls'), 'utf8')).toContain(`tag ${id64} `)
  })

  test('a commit or tree this node built with the same settings: its image is named again without a bud; other settings, a gone image or an ADD from a URL build', async () => {
    // Buildah takes every step from the cache; "gone" makes the next tag fail once, as for an image the prune removed.
    const { store, bin } = fakeBuildah(`case " $* " in
  *" bud "*) printf 'STEP 1/2: FROM scratch\\nSTEP 2/2: COPY a /a\\n--> Using cache ${id64}\\nCOMMIT\\n${id64}\\n' ;;
  *" tag "*) if [ -f "$(dirname "$0")/gone" ]; then rm "$(dirname "$0")/gone"; exit 1; fi ;;
esac`)
    const config = { ...loadConfig({}), profile: 'raw_exec' as const, storageDriver: 'vfs' as const }
    const buildOf = async (repo: string, extra: Partial<JobRequest> = {}) => {
      const task = renderJob({ id: '20261125-120000-abcdef', request: { repo, image: 'registry.example.com/a', ...extra }, createdAt: new Date() }, config).TaskGroups[0]!.Tasks[0]!
      writeFileSync(join(store, 'calls'), '')
      const r = await runTask(phaseScript('build'), { ...task.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'build', NOMAD_ALLOC_ID: 'a1' })
      expect({ code: r.code, out: r.code ? r.out : '' }).toEqual({ code: 0, out: '' })
      const calls = readFileSync(join(store, 'calls'), 'utf8')
      const checkedOut = existsSync(join(r.alloc, 'src/Dockerfile'))
      return { ...r, calls, checkedOut, buds: calls.split('\n').filter((c) => c.includes(' bud ')).length }
    }
    const git = (repo: string, cmd: string) => expect(Bun.spawnSync(['sh', '-c', `git -c user.name=t -c user.email=t@t ${cmd}`], { cwd: repo }).exitCode).toBe(0)
    const head = (repo: string) => Bun.spawnSync(['git', 'rev-parse', 'HEAD'], { cwd: repo }).stdout.toString().trim()
    const repo = oneCommitRepo()
    expect((await buildOf(repo)).buds).toBe(1)
    // The same commit: the refs alone say so; the fetch begun beside them is stopped, nothing checked out.
    const again = await buildOf(repo)
    expect([again.buds, again.checkedOut]).toEqual([0, false])
    expect(again.out).toContain(`reusing image ${id64}: this node built it from the same commit (${head(repo)}) with the same settings`)
    expect(readFileSync(join(again.alloc, 'nbs/commit'), 'utf8')).toBe(`${head(repo)}\n`)
    expect(again.calls).toContain(`tag ${id64} localhost/nbs-cache/run-20261125-120000-abcdef:latest localhost/nbs-cache/`)
    expect(readFileSync(join(again.alloc, 'nbs/run-image'), 'utf8')).toBe(`${id64} 2 2\n`)
    expect(existsSync(join(again.alloc, 'nbs/build.ok'))).toBe(true)
    // An annotated tag of that commit resolves to it.
    git(repo, 'tag -a -m v1 v1')
    expect(await buildOf(repo, { ref: 'v1' })).toMatchObject({ buds: 0, checkedOut: false })
    // A new commit of the same tree is fetched, and its tree reused.
    git(repo, 'commit -q --allow-empty -m empty')
    const sameTree = await buildOf(repo)
    expect([sameTree.buds, sameTree.checkedOut]).toEqual([0, true])
    expect(sameTree.out).toMatch(new RegExp(`reusing image ${id64}: this node built it from the same repository \\([0-9a-f]{40}\\) with the same settings`))
    expect(await buildOf(repo)).toMatchObject({ buds: 0, checkedOut: false })
    // Settings that can change the image, or a request to run every step: Buildah builds.
    expect((await buildOf(repo, { buildArgs: { A: '1' } })).buds).toBe(1)
    expect((await buildOf(repo, { target: 'app' })).buds).toBe(1)
    expect((await buildOf(repo, { noCache: true })).buds).toBe(1)
    // A gone image: both of its records go, once each, and Buildah builds.
    writeFileSync(join(bin, 'gone'), '')
    const gone = await buildOf(repo)
    expect([gone.buds, gone.out.match(/is gone; building/g)?.length]).toEqual([1, 1])
    expect(gone.out).toContain(`the image this node built from the same commit (${head(repo)}) is gone; building`)
    expect(await buildOf(repo)).toMatchObject({ buds: 0, checkedOut: false })
    // A Dockerfile that ADDs from a URL is built every time.
    const remote = oneCommitRepo()
    writeFileSync(join(remote, 'Dockerfile'), 'FROM scratch\nADD https://example.com/app.tar /app\n')
    git(remote, 'commit -q -a -m url')
    expect((await buildOf(remote)).buds).toBe(1)
    expect(await buildOf(remote)).toMatchObject({ buds: 1, checkedOut: true })
  })

  test('the fetch: a short commit id fetches the whole history; an unknown ref or repository fails with words that say so, known to the node or not', async () => {
    const { store, bin } = fakeBuildah(`case " $* " in *" bud "*) printf 'STEP 1/1: FROM scratch\\nCOMMIT\\n${id64}\\n' ;; esac`)
    const config = { ...loadConfig({}), profile: 'raw_exec' as const, storageDriver: 'vfs' as const }
    const buildOf = async (repo: string, ref?: string) => {
      const task = renderJob({ id: '20261125-120000-abcdef', request: { repo, image: 'registry.example.com/a', ref }, createdAt: new Date() }, config).TaskGroups[0]!.Tasks[0]!
      return runTask(phaseScript('build'), { ...task.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'build', NOMAD_ALLOC_ID: 'a1' })
    }
    const repo = oneCommitRepo()
    const head = Bun.spawnSync(['git', 'rev-parse', 'HEAD'], { cwd: repo }).stdout.toString().trim()
    for (const known of [false, true]) {
      // The second round: the node has built the repository (its cache entry), so ls-remote runs beside the fetch.
      const short = await buildOf(repo, head.slice(0, 10))
      expect({ known, code: short.code }).toEqual({ known, code: 0 })
      expect(short.out).toContain(`shallow fetch of ${head.slice(0, 10)} failed; fetching the whole history`)
      expect(readFileSync(join(short.alloc, 'nbs/commit'), 'utf8')).toBe(`${head}\n`)
      const unknown = await buildOf(repo, 'no-such-branch')
      expect({ known, code: unknown.code }).toEqual({ known, code: 2 })
      expect(unknown.out).toContain(`ref no-such-branch is not a branch, tag or commit of ${repo}`)
    }
    // A repository gone: unknown to the node, the fetch says so; known (built before), ls-remote
    // says so first, and the fetch begun beside it is stopped.
    const missing = await buildOf(`${repo}-missing`)
    expect({ failed: missing.code !== 0, out: missing.out }).toMatchObject({ failed: true, out: expect.stringContaining(`'${repo}-missing' does not appear to be a git repository`) })
    renameSync(repo, `${repo}-moved`)
    const gone = await buildOf(repo)
    renameSync(`${repo}-moved`, repo)
    expect({ failed: gone.code !== 0, out: gone.out }).toMatchObject({ failed: true, out: expect.stringContaining(`'${repo}' does not appear to be a git repository`) })
  })

  test("the build makes each test's container while it names the image; the test runs in it and leaves it; publish removes them", async () => {
    // Buildah with a store: "from" adds the container's name to the store's list, as containers/storage does.
    const { store, bin } = fakeBuildah(`list="${'$'}NBS_STORE_DIR/storage/vfs-containers/containers.json"
case " $* " in
  *" bud "*) printf 'STEP 1/1: FROM scratch\\nCOMMIT\\n${id64}\\n' ;;
esac
prev=
for a; do
  [ "$prev" != --name ] || { mkdir -p "$(dirname "$list")"; echo "\\"$a\\"" >>"$list"; }
  [ "$prev" != --digestfile ] || echo sha256:beef >"$a"
  prev=$a
done`)
    const repo = oneCommitRepo()
    const config = { ...loadConfig({}), profile: 'raw_exec' as const, storageDriver: 'vfs' as const }
    const request: JobRequest = { repo, image: 'registry.example.com/a', tags: ['v1'], test: { commands: ['true', 'false'] } }
    const tasks = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date() }, config).TaskGroups[0]!.Tasks
    const alloc = mkdtempSync(join(tmpdir(), 'nbs-alloc-'))
    dirs.push(alloc)
    const calls = () => readFileSync(join(store, 'calls'), 'utf8').split('\n').map((c) => c.replace(/^--root \S+ --runroot \S+ --storage-driver vfs /, ''))
    const run = async (name: string, script: string) => {
      writeFileSync(join(store, 'calls'), '')
      const task = tasks.find((t) => t.Name === name)!
      return runTask(script, { ...task.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: name, NOMAD_ALLOC_ID: 'a1', NOMAD_ALLOC_DIR: alloc }, {}, wantedRunning)
    }
    expect((await run('build', phaseScript('build'))).code).toBe(0)
    expect(calls()).toEqual(expect.arrayContaining([`from --pull-never --name nbs-a1-test-0 ${id64}`, `from --pull-never --name nbs-a1-test-1 ${id64}`]))
    expect((await run('test-0', phaseScript('test'))).code).toBe(0)
    expect(calls().filter((c) => /^(from|rm|run) /.test(c))).toEqual([expect.stringMatching(/^run --isolation chroot nbs-a1-test-0 -- \/bin\/sh -c true$/)])
    // A container the build could not make (gone from the list): the test makes its own.
    writeFileSync(join(store, 'storage/vfs-containers/containers.json'), '"nbs-a1-test-0"\n')
    expect((await run('test-1', phaseScript('test'))).code).toBe(0)
    expect(calls().filter((c) => /^(from|rm) /.test(c))).toEqual(['from --pull-never --name nbs-a1-test-1 localhost/nbs-cache/run-20261125-120000-abcdef:latest'])
    writeFileSync(join(alloc, 'nbs/test-1.exit'), '0\n')
    const published = await run('publish', phaseScript('publish'))
    expect([published.code, published.out]).toEqual([0, expect.stringContaining('published ')])
    expect(calls()).toContain('rm nbs-a1-test-0 nbs-a1-test-1')
  })

  test('a step that fails: the build exits with Buildah\'s code and names the last good step\'s image for runInImage', async () => {
    // Buildah 1.28's words for a build whose third step fails (recorded: buildah-pipeline-build-fails).
    const { store, bin } = fakeBuildah(
      `case " $* " in *" bud "*) printf 'STEP 1/3: FROM scratch\\nSTEP 2/3: COPY busybox /bin/busybox\\n--> f6380feb70e\\nSTEP 3/3: RUN exit 2\\n'; echo 'error building at STEP' >&2; exit 2 ;; esac`,
    )
    const repo = oneCommitRepo()
    const config = { ...loadConfig({}), profile: 'raw_exec' as const, storageDriver: 'vfs' as const }
    const build = renderJob({ id: '20261125-120000-abcdef', request: { repo, image: 'registry.example.com/a' }, createdAt: new Date() }, config).TaskGroups[0]!.Tasks[0]!
    const { out, code, alloc } = await runTask(phaseScript('build'), { ...build.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'build', NOMAD_ALLOC_ID: 'a1' })
    expect({ code, out: code === 2 ? '' : out }).toEqual({ code: 2, out: '' })
    // The log keeps Buildah's lines in order, its errors included.
    expect(out).toContain('STEP 2/3: COPY busybox /bin/busybox\n--> f6380feb70e\nSTEP 3/3: RUN exit 2\nerror building at STEP')
    expect(out).toContain('kept the image after step 2 of 3 for runInImage')
    expect(readFileSync(join(alloc, 'nbs/run-image'), 'utf8')).toBe('f6380feb70e 2 3\n')
    expect(readFileSync(join(store, 'calls'), 'utf8')).toContain('tag f6380feb70e localhost/nbs-cache/run-20261125-120000-abcdef:latest')
    expect(existsSync(join(store, 'nbs-cache-keys/run-20261125-120000-abcdef'))).toBe(true)
    expect(existsSync(join(alloc, 'nbs/build.ok'))).toBe(false)
  })

  test('publish after a build stopped before it opened the store: no Buildah call, no guessed driver, and it says why', async () => {
    const { store, bin } = fakeBuildah()
    const request: JobRequest = { repo: 'https://example.com/a.git', image: 'registry.example.com/a' }
    const config = { ...loadConfig({}), profile: 'raw_exec' as const }
    const publish = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date() }, config).TaskGroups[0]!.Tasks.find((t) => t.Name === 'publish')!
    const { out, code, alloc } = await runTask(phaseScript('publish'), { ...publish.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'publish', NOMAD_ALLOC_ID: 'a1' })
    expect(code).toBe(0)
    expect(out).toContain('not publishing: the build did not succeed')
    expect(out).toContain('cache: the build stopped before it opened the store; nothing of it to remove')
    expect(existsSync(join(store, 'calls'))).toBe(false)
    expect(readFileSync(join(alloc, 'nbs/publish.skipped'), 'utf8')).toContain('the build did not succeed')
  })

  test.each([
    [1, 0, 'pushed on the second try'],
    [2, 1, 'failed twice'],
  ])('a push that fails is tried once more: %d failure(s) → exit %d (%s)', async (failures, exit) => {
    const store = mkdtempSync(join(tmpdir(), 'nbs-store-'))
    const bin = mkdtempSync(join(tmpdir(), 'nbs-bin-'))
    dirs.push(store, bin)
    // Buildah's push: the first `failures` calls fail as docker-registry does when it lost a blob; then it pushes.
    writeFileSync(
      join(bin, 'buildah'),
      `#!/bin/sh
case " $* " in *" push "*) ;; *) exit 0 ;; esac
n=$(cat "${store}/pushes" 2>/dev/null || echo 0); echo $((n + 1)) >"${store}/pushes"
[ "$n" -ge ${failures} ] || { echo "manifest blob unknown: blob unknown to registry"; exit 1; }
prev=; for a in "$@"; do [ "$prev" != --digestfile ] || echo sha256:beef >"$a"; prev=$a; done
`,
      { mode: 0o755 },
    )
    const request: JobRequest = { repo: 'https://example.com/a.git', image: 'registry.example.com/a', tags: ['v1'] }
    const config = { ...loadConfig({}), profile: 'raw_exec' as const }
    const publish = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date() }, config).TaskGroups[0]!.Tasks.find((t) => t.Name === 'publish')!
    const { out, code, alloc } = await runTask(
      `mkdir -p "$NOMAD_ALLOC_DIR/nbs" && echo vfs >"$NOMAD_ALLOC_DIR/nbs/storage-driver" && touch "$NOMAD_ALLOC_DIR/nbs/build.ok"\n${phaseScript('publish')}`,
      { ...publish.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'publish', NOMAD_ALLOC_ID: 'a1' },
      {},
      wantedRunning,
    )
    expect(code).toBe(exit)
    expect(readFileSync(join(store, 'pushes'), 'utf8').trim()).toBe('2')
    expect(out).toContain('push to registry.example.com/a:v1 failed; trying once more')
    if (exit === 0) expect(readFileSync(join(alloc, 'nbs/published'), 'utf8')).toBe('registry.example.com/a:v1\n')
    else expect(out).toContain('==> nbs: push to registry.example.com/a:v1 failed\n')
  })

  test("raw_exec: the build asks the servers for its node's cache volume, opens the store there and hands the path on", async () => {
    const store = mkdtempSync(join(tmpdir(), 'nbs-store-'))
    const bin = mkdtempSync(join(tmpdir(), 'nbs-bin-'))
    dirs.push(store, bin)
    writeFileSync(join(bin, 'buildah'), '#!/bin/sh\nexit 0\n', { mode: 0o755 })
    const node = { ID: 'n1', Name: 'node-a', HostVolumes: { other: { Name: 'other', Path: '/elsewhere', ReadOnly: false }, 'buildah-cache': { Name: 'buildah-cache', Path: store, ReadOnly: false } } }
    const env = { NBS_STORE_DIR: '', NBS_NODE_ID: 'n1', NBS_CACHE_VOLUME: 'buildah-cache', NBS_STORAGE_DRIVER: 'vfs', PATH: `${bin}:${process.env.PATH}` }
    const { out, code, alloc } = await runTask(`${taskPrelude}\nnbs_init\nprepare_store`, env, {}, (path) => (path === '/v1/node/n1' ? Response.json(node) : new Response('no', { status: 404 })))
    expect({ code, out }).toEqual({ code: 0, out: `==> nbs: storage driver vfs (NBS_STORAGE_DRIVER), store ${store}/storage\n` })
    expect(readFileSync(join(alloc, 'nbs/store-dir'), 'utf8')).toBe(`${store}\n`)
    // A test task finds the same store without asking (it has no identity): the hand-off.
    const next = await runTask(`mkdir -p "$NOMAD_ALLOC_DIR/nbs" && cp "${alloc}/nbs/store-dir" "$NOMAD_ALLOC_DIR/nbs/"\n${taskPrelude}\nnbs_init\nopen_store && echo "$NBS_STORAGE_ROOT"`, { ...env, NBS_NODE_ID: 'unused' })
    expect(next.out).toBe(`${store}/storage\n`)
  })

  test('raw_exec: a node without the cache volume, or servers that do not answer, fail the build as infrastructure, naming node and volume', async () => {
    const env = { NBS_STORE_DIR: '', NBS_NODE_ID: 'n1', NBS_CACHE_VOLUME: 'buildah-cache', NBS_STORAGE_DRIVER: 'vfs' }
    const noVolume = await runTask(`${taskPrelude}\nnbs_init\nprepare_store`, env, {}, () => Response.json({ ID: 'n1', Name: 'node-a', HostVolumes: {} }))
    expect(noVolume.code).toBe(78)
    expect(readFileSync(join(noVolume.alloc, 'nbs/infrastructure'), 'utf8')).toContain('node node-a has no host volume buildah-cache: declare it')
    const noServers = await runTask(`${taskPrelude}\nnbs_init\nprepare_store`, env)
    expect(noServers.code).toBe(78)
    expect(readFileSync(join(noServers.alloc, 'nbs/infrastructure'), 'utf8')).toContain('the Nomad servers did not say where node n1 keeps host volume buildah-cache')
  })

  test.each([
    ['the job was stopped', (() => Response.json({ ID: 'a1', DesiredStatus: 'stop' })) as TaskApi, 'the job was stopped before the push'],
    ['the servers cannot be reached (a node cut off)', undefined, 'the Nomad servers could not confirm that this build should still run'],
    ['the servers refuse the token', (() => new Response('Permission denied', { status: 403 })) as TaskApi, 'Permission denied'],
  ])('publish pushes nothing when %s, and says why', async (_, api, why) => {
    const { store, bin } = fakeBuildah()
    const request: JobRequest = { repo: 'https://example.com/a.git', image: 'registry.example.com/a', tags: ['v1'] }
    const publish = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date() }, { ...loadConfig({}), profile: 'raw_exec' }).TaskGroups[0]!.Tasks.find((t) => t.Name === 'publish')!
    const { out, code, alloc } = await runTask(
      `mkdir -p "$NOMAD_ALLOC_DIR/nbs" && echo vfs >"$NOMAD_ALLOC_DIR/nbs/storage-driver" && touch "$NOMAD_ALLOC_DIR/nbs/build.ok"\n${phaseScript('publish')}`,
      { ...publish.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'publish', NOMAD_ALLOC_ID: 'a1' },
      {},
      api,
    )
    expect(code).toBe(0)
    expect(out).toContain(`==> nbs: not publishing: `)
    expect(readFileSync(join(alloc, 'nbs/publish.skipped'), 'utf8')).toContain(why)
    // (No Buildah call at all: nothing of the build's is removed, and the store has nothing to prune.)
    expect(existsSync(join(store, 'calls')) ? readFileSync(join(store, 'calls'), 'utf8') : '').not.toContain('push')
    expect(existsSync(join(alloc, 'nbs/published'))).toBe(false)
  })

  test('auto: native overlay is probed once per store, user and kernel; later builds skip the probe', async () => {
    const { store, bin } = fakeBuildah()
    const env = { NBS_STORE_DIR: store, NBS_NODE_ID: 'n1', NBS_CACHE_VOLUME: 'buildah-cache', NBS_STORAGE_DRIVER: 'auto', PATH: `${bin}:${process.env.PATH}` }
    const first = await runTask(`${taskPrelude}\nnbs_init\nprepare_store`, env)
    expect(first.out).toContain('storage driver overlay (native overlay works here)')
    expect(readFileSync(join(store, 'calls'), 'utf8')).toContain('images')
    rmSync(join(store, 'calls'))
    const second = await runTask(`${taskPrelude}\nnbs_init\nprepare_store`, env)
    expect(second.out).toContain('storage driver overlay (native overlay works here (probed by an earlier build on this kernel))')
    expect(readFileSync(join(second.alloc, 'nbs/storage-driver'), 'utf8')).toBe('overlay\n')
    expect(existsSync(join(store, 'calls'))).toBe(false)
    // Another kernel (an upgraded node) probes again.
    writeFileSync(join(store, `nbs-overlay-ok-${process.getuid!()}`), 'some-older-kernel\n')
    await runTask(`${taskPrelude}\nnbs_init\nprepare_store`, env)
    expect(readFileSync(join(store, 'calls'), 'utf8')).toContain('images')
  })

  test.each([
    ['a build wholly from the cache, nothing left over', {}, []],
    ['a build that committed layers', { grew: true }, ['rmi --prune']],
    // Every container of the store, not only Buildah's working containers (rm --all): one that a
    // kill caught inside `buildah from` has no builder state, and rm --all leaves it for ever.
    ['a leftover container of a killed build', { container: true }, ['containers --all --quiet', 'rm ctr1', 'rmi --prune']],
  ] as const)('the prune after %s starts Buildah only for what there is to do', async (_, store0: { grew?: boolean; container?: boolean }, expected) => {
    const { store, bin } = fakeBuildah(
      'prev=; for a in "$@"; do [ "$prev" != --digestfile ] || echo sha256:beef >"$a"; prev=$a; done\ncase " $* " in *" containers --all --quiet "*) echo ctr1 ;; *" rm ctr1 "*) echo ctr1 ;; esac',
    )
    mkdirSync(join(store, 'storage', 'overlay-containers'), { recursive: true })
    writeFileSync(join(store, 'storage', 'overlay-containers', 'containers.json'), store0.container ? '[{"id":"ctr1","names":["nbs-x-test-0"]}]' : '[]')
    if (store0.grew) writeFileSync(join(store, 'nbs-store-grew'), '')
    const request: JobRequest = { repo: 'https://example.com/a.git', image: 'registry.example.com/a', tags: ['v1'] }
    const publish = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date() }, { ...loadConfig({}), profile: 'raw_exec' }).TaskGroups[0]!.Tasks.find((t) => t.Name === 'publish')!
    const { out, code } = await runTask(
      `mkdir -p "$NOMAD_ALLOC_DIR/nbs" && echo overlay >"$NOMAD_ALLOC_DIR/nbs/storage-driver" && touch "$NOMAD_ALLOC_DIR/nbs/build.ok"\n${phaseScript('publish')}`,
      { ...publish.Env, PATH: `${bin}:${process.env.PATH}`, NBS_STORE_DIR: store, NOMAD_TASK_NAME: 'publish', NOMAD_ALLOC_ID: 'a1' },
      {},
      wantedRunning,
    )
    expect(code).toBe(0)
    const calls = readFileSync(join(store, 'calls'), 'utf8').trim().split('\n').map((c) => c.replace(/^--root \S+ --runroot \S+ --storage-driver overlay /, ''))
    expect(calls.filter((c) => !/^push /.test(c))).toEqual([...expected])
    if (expected.length === 0) expect(out).toContain('cache: nothing to prune')
    else expect(out).toContain(`cache: pruned ${store0.container ? 1 : 0} leftover container(s)`)
    expect(existsSync(join(store, 'nbs-store-grew'))).toBe(false)
  })

  test("auto: when native overlay fails, the build log gives Buildah's reason with the driver it falls back to", async () => {
    const store = mkdtempSync(join(tmpdir(), 'nbs-store-'))
    const bin = mkdtempSync(join(tmpdir(), 'nbs-bin-'))
    dirs.push(store, bin)
    // A store whose overlay directory a root buildah chowned: vfs still works, overlay (native or fuse) does not.
    writeFileSync(
      join(bin, 'buildah'),
      '#!/bin/sh\ncase " $* " in *" --storage-driver vfs "*) exit 0 ;; esac\necho "Error: chown /s/storage/overlay/l: operation not permitted" >&2\necho \'time="x" level=warning msg="failed to shutdown storage"\' >&2\nexit 125\n',
      { mode: 0o755 },
    )
    const { out, code, alloc } = await runTask(`${taskPrelude}\nnbs_init\nprepare_store`, {
      NBS_STORE_DIR: store,
      NBS_CACHE_VOLUME: 'buildah-cache',
      NBS_STORAGE_DRIVER: 'auto',
      PATH: `${bin}:${process.env.PATH}`,
    })
    expect(code).toBe(0)
    expect(readFileSync(join(alloc, 'nbs/storage-driver'), 'utf8').trim()).toBe('vfs')
    expect(out).toContain(`storage driver vfs (neither native overlay (Error: chown /s/storage/overlay/l: operation not permitted) nor /dev/fuse works here for uid ${process.getuid!()})`)
  })

  test('the tests and publish use the store driver the build recorded for the allocation', async () => {
    const driverOf = async (recorded?: string) => {
      const alloc = mkdtempSync(join(tmpdir(), 'nbs-alloc-'))
      dirs.push(alloc)
      if (recorded) {
        mkdirSync(join(alloc, 'nbs'))
        writeFileSync(join(alloc, 'nbs/storage-driver'), `${recorded}\n`)
      }
      const { out } = await runTask(`${taskPrelude}\nnbs_init\nopen_store\necho $store_opts`, { NOMAD_ALLOC_DIR: alloc, NBS_STORE_DIR: alloc })
      return out.trim()
    }
    expect(await driverOf('overlay')).toBe('--storage-driver overlay')
    expect(await driverOf('fuse-overlayfs')).toBe('--storage-driver overlay --storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs')
    expect(await driverOf('vfs')).toBe('--storage-driver vfs')
    expect(await driverOf()).toBe('--storage-driver vfs')
  })
})
