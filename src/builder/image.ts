// Builds the builder image from its definition (once per tag, kept in the tool cache) and pushes it.
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

async function run(args: string[], what: string, output: 'inherit' | 'pipe', cwd?: string): Promise<void> {
  const p = Bun.spawn(args, { cwd, stdout: output, stderr: output })
  const [code, err] = await Promise.all([p.exited, output === 'pipe' ? new Response(p.stderr).text() : ''])
  if (code !== 0) throw new Error(`${what} failed (exit ${code})${err ? `: ${err.trim().split('\n').slice(-5).join('\n')}` : ''}`)
}

/**
 * The OCI archive of the builder image, built with mmdebstrap from Debian packages when the
 * cache has none for this definition. `output` 'pipe' keeps the build's progress out of a terminal.
 */
export async function buildBuilderImage(log: (m: string) => void, output: 'inherit' | 'pipe' = 'inherit', env = process.env): Promise<string> {
  const archive = builderArchive(env)
  if (existsSync(archive)) return archive
  if (process.getuid?.() !== 0)
    throw new Error(
      'building the builder image needs root (mmdebstrap sets file capabilities on newuidmap): run it as root, or set NBS_BUILDAH_IMAGE to a builder image pushed from elsewhere (make builder-image REGISTRY=…)',
    )
  await ensurePackages(log, buildNeeds)
  log(`building the builder image ${builderTag()} from Debian packages (mmdebstrap; a few minutes, once per definition)`)
  const dir = mkdtempSync(join(tmpdir(), 'nbs-builder-'))
  try {
    for (const [name, text] of Object.entries(definitionFiles)) writeFileSync(join(dir, name), text, { mode: name.endsWith('.sh') ? 0o755 : 0o644 })
    mkdirSync(join(archive, '..'), { recursive: true })
    const partial = `${archive}.partial`
    rmSync(partial, { force: true })
    await run(['sh', join(dir, 'build.sh'), partial], 'building the builder image (images/builder/build.sh)', output, dir)
    renameSync(partial, archive)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return archive
}

/** Copies the archive to `ref` in a registry; blobs the registry has are not sent again. */
export async function pushBuilderImage(archive: string, ref: string, tlsVerify: boolean): Promise<void> {
  await run(['skopeo', 'copy', '-q', `--dest-tls-verify=${tlsVerify}`, `oci-archive:${archive}`, `docker://${ref}`], `pushing the builder image to ${ref}`, 'pipe')
}
