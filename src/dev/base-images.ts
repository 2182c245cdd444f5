// The base images the dev registry offers, so a Dockerfile's FROM finds something with no public
// registry in reach: library/busybox (the host's static busybox) and library/debian:bookworm-slim
// (mmdebstrap). Each is built once per definition (images/base/), kept in the tool cache as an
// OCI archive, and pushed under its usual tag and a tag of the definition's hash.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import busyboxScript from '../../images/base/busybox.sh' with { type: 'text' }
import debianScript from '../../images/base/debian.sh' with { type: 'text' }
import { buildArchive, mmdebstrapProgress, pushArchive } from '../builder/image'
import { ensurePackages, type Need } from './packages'
import { toolCacheDir } from './paths'
import { manifestDigest } from './registry'

export interface BaseImage {
  repository: string
  tag: string
  /** Its build script's name in images/base/, and the script itself (embedded, for the compiled binary). */
  script: string
  text: string
  /** Debian packages its script needs beyond the dev stack's own. */
  needs: Need[]
  /** What else the image is made of, for its definition hash: the host's busybox binary. */
  inputs: () => string[]
}

export const baseImages: BaseImage[] = [
  { repository: 'library/busybox', tag: 'latest', script: 'busybox.sh', text: busyboxScript, needs: [], inputs: () => ['/bin/busybox'] },
  {
    repository: 'library/debian',
    tag: 'bookworm-slim',
    script: 'debian.sh',
    text: debianScript,
    needs: [{ bin: '/usr/bin/mmdebstrap', pkg: 'mmdebstrap' }],
    inputs: () => [],
  },
]

/** A hash of the image's script and inputs: a new busybox-static or a changed script makes a new image. */
export function definitionHash(image: BaseImage): string {
  const h = createHash('sha256').update(`${image.script}\0${image.text}\0`)
  for (const file of image.inputs()) h.update(readFileSync(file)).update('\0')
  return h.digest('hex').slice(0, 16)
}

/** The tags an image is pushed under: its usual one (what a FROM names) and one of its definition. */
export const baseTags = (image: BaseImage) => ({ usual: image.tag, pinned: `${image.tag}-${definitionHash(image)}` })

export const baseRef = (registry: string, image: BaseImage, tag = image.tag) => `${registry}/${image.repository}:${tag}`

const baseArchive = (image: BaseImage) =>
  join(toolCacheDir(), 'base', `${image.repository.replaceAll('/', '-')}-${baseTags(image).pinned}.oci.tar`)

export interface BaseImageState {
  ref: string
  /** The digest the registry serves for the usual tag, if any. */
  digest?: string
  /** Whether that digest is the current definition's (its pinned tag's). */
  current: boolean
}

export async function baseImageState(registry: string, image: BaseImage): Promise<BaseImageState> {
  const { usual, pinned } = baseTags(image)
  const [digest, pinnedDigest] = await Promise.all([manifestDigest(registry, image.repository, usual), manifestDigest(registry, image.repository, pinned)])
  return { ref: baseRef(registry, image), digest, current: !!digest && digest === pinnedDigest }
}

/**
 * Makes sure the registry serves every base image of the current definition: skipped when it
 * does (two HEAD requests each, so every `dev up` and test file can ask), pushed from the cached
 * archive when the registry lacks it, built first when the cache lacks it too. Building needs
 * root (mmdebstrap's root mode, buildah's store); without it, dev up goes on without them and
 * says so: images FROM scratch build all the same.
 */
export async function publishBaseImages(registry: string, log: (m: string) => void): Promise<void> {
  for (const image of baseImages) {
    const ref = baseRef(registry, image)
    if ((await baseImageState(registry, image)).current) {
      log(`base image ${ref}: in the registry`)
      continue
    }
    const { usual, pinned } = baseTags(image)
    const archive = baseArchive(image)
    const started = performance.now()
    if (existsSync(archive)) log(`base image ${ref}: pushing ${archive}`)
    else if (process.getuid?.() !== 0) {
      log(`base image ${ref}: not built: building it needs root (run nbs dev up as root once; it is cached in ${archive})`)
      continue
    } else {
      await ensurePackages(log, image.needs)
      log(`base image ${ref}: building it from images/base/${image.script} (once per definition: ${pinned})`)
      await buildArchive(archive, { [image.script]: image.text }, image.script, `building ${ref} (images/base/${image.script})`, mmdebstrapProgress(`base image ${ref}`, log))
    }
    await pushArchive(archive, [baseRef(registry, image, pinned), baseRef(registry, image, usual)], false)
    log(`base image ${ref}: in the registry (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  }
}
