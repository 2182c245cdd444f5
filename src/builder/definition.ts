// The project's builder image (images/builder/): its files, embedded so the compiled binary can
// build it anywhere, and the tag that names it, a hash of those files, so an image is rebuilt
// only when its definition changes and a server knows which image its phase scripts expect.
import { createHash } from 'node:crypto'
import build from '../../images/builder/build.sh' with { type: 'text' }
import containersConf from '../../images/builder/containers.conf' with { type: 'text' }
import customize from '../../images/builder/customize.sh' with { type: 'text' }
import packages from '../../images/builder/packages.txt' with { type: 'text' }
import storageConf from '../../images/builder/storage.conf' with { type: 'text' }

/** File name → content, as in images/builder/. */
export const definitionFiles: Record<string, string> = {
  'build.sh': build,
  'containers.conf': containersConf,
  'customize.sh': customize,
  'packages.txt': packages,
  'storage.conf': storageConf,
}

export const BUILDER_REPOSITORY = 'nbs/builder'

export function builderTag(files = definitionFiles): string {
  const h = createHash('sha256')
  for (const name of Object.keys(files).sort()) h.update(`${name}\0${files[name]}\0`)
  return h.digest('hex').slice(0, 16)
}

/** The builder image's reference in a registry, e.g. "registry.example.com/nbs/builder:<tag>". */
export const builderRef = (registry: string) => `${registry}/${BUILDER_REPOSITORY}:${builderTag()}`

/**
 * NBS_BUILDAH_IMAGE when unset: the image as `make builder-image` pushes it to a registry on
 * each node's loopback (Docker pulls from 127.0.0.0/8 over plain HTTP); a cluster sets
 * NBS_BUILDAH_IMAGE to where it pushed the image instead.
 */
export const DEFAULT_BUILDER_REGISTRY = 'localhost:5000'
