// Builds an image from its definition (once per tag, kept in the tool cache as an OCI archive) and pushes it.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensurePackages } from '../dev/packages'
import { toolCacheDir } from '../dev/paths'
import { builderTag, definitionFiles } from './definition'

const buildNeeds = [
  { bin: '/usr/bin/mmdebstrap', pkg: 'mmdebstrap' },
  { bin: '/usr/bin/buildah', pkg: 'buildah' },
  { bin: '/usr/bin/skopeo', pkg: 'skopeo' },
  { bin: '/usr/sbin/setcap', pkg: 'libcap2-bin' },
]

/** Where the image of the current definition is kept, as an OCI archive. */
export const builderArchive = (env = process.env) => join(toolCacheDir(env), 'builder', `nbs-builder-${builderTag()}.oci.tar`)

/** 'inherit': the command's output goes to ours; a function: it gets each line the command writes to stderr. */
export type Output = 'inherit' | ((line: string) => void)

async function run(args: string[], what: string, output: Output, cwd?: string): Promise<void> {
  const failed = (code: number, tail: string[]) => new Error(`${what} failed (exit ${code})${tail.length ? `: ${tail.join('\n').trim()}` : ''}`)
  if (output === 'inherit') {
    const code = await Bun.spawn(args, { cwd, stdout: 'inherit', stderr: 'inherit' }).exited
    if (code !== 0) throw failed(code, [])
    return
  }
  const p = Bun.spawn(args, { cwd, stdout: 'ignore', stderr: 'pipe' })
  const tail: string[] = []
  let partial = ''
  const decoder = new TextDecoder()
  for await (const chunk of p.stderr) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) output(line)
    tail.push(...lines)
    tail.splice(0, Math.max(0, tail.length - 5))
  }
  if (partial) {
    output(partial)
    tail.push(partial)
  }
  const code = await p.exited
  if (code !== 0) throw failed(code, tail.slice(-5))
}

/** mmdebstrap's own progress lines ("I: downloading packages with apt..."), as log lines about `what`. */
export const mmdebstrapProgress = (what: string, log: (m: string) => void) => (line: string) => {
  if (line.startsWith('I: ')) log(`${what}: ${line.slice(3)}`)
}

/**
 * Runs `sh <script> <archive>` in a temporary folder holding `files` (the image's definition),
 * unless `archive` exists already. The script writes a partial file of this process's own,
 * renamed once complete, so an interrupted build or another one running at the same time never
 * leaves a truncated archive under the final name.
 */
export async function buildArchive(archive: string, files: Record<string, string>, script: string, what: string, output: Output): Promise<string> {
  if (existsSync(archive)) return archive
  const dir = mkdtempSync(join(tmpdir(), 'nbs-image-'))
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: name.endsWith('.sh') ? 0o755 : 0o644 })
    mkdirSync(join(archive, '..'), { recursive: true })
    const partial = `${archive}.partial-${process.pid}`
    rmSync(partial, { force: true })
    try {
      await run(['sh', join(dir, script), partial], what, output, dir)
      renameSync(partial, archive)
    } finally {
      rmSync(partial, { force: true })
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return archive
}

/**
 * The OCI archive of the builder image, built with mmdebstrap from Debian packages when the
 * cache has none for this definition. `output` a function keeps the build's progress out of a terminal.
 */
export async function buildBuilderImage(log: (m: string) => void, output: Output = 'inherit', env = process.env): Promise<string> {
  const archive = builderArchive(env)
  if (existsSync(archive)) return archive
  if (process.getuid?.() !== 0)
    throw new Error(
      'building the builder image needs root (mmdebstrap sets file capabilities on newuidmap): run it as root, or set NBS_BUILDAH_IMAGE to a builder image pushed from elsewhere (make builder-image REGISTRY=…)',
    )
  await ensurePackages(log, buildNeeds)
  log(`building the builder image ${builderTag()} from Debian packages (mmdebstrap; a few minutes, once per definition)`)
  return buildArchive(archive, definitionFiles, 'build.sh', 'building the builder image (images/builder/build.sh)', output)
}

/** Copies the archive to each of `refs` in a registry; blobs the registry has are not sent again. */
export async function pushArchive(archive: string, refs: string[], tlsVerify: boolean): Promise<void> {
  for (const ref of refs)
    await run(['skopeo', 'copy', '-q', `--dest-tls-verify=${tlsVerify}`, `oci-archive:${archive}`, `docker://${ref}`], `pushing ${archive} to ${ref}`, () => {})
}
