// `nbs builder ref|build`: the project's builder image, the docker profile's task image.
import type { Command } from 'commander'
import { builderRef, DEFAULT_BUILDER_REGISTRY } from '../builder/definition'
import { buildBuilderImage, pushArchive } from '../builder/image'

const log = (m: string) => console.error(`builder: ${m}`)

export function registerBuilderCommands(program: Command): void {
  const builder = program
    .command('builder')
    .description("The builder image the docker profile's tasks run (images/builder/), tagged by a hash of its definition.")
  builder
    .command('ref')
    .description('Print the image reference NBS_BUILDAH_IMAGE names for a registry.')
    .argument('[registry]', 'registry host[:port]', DEFAULT_BUILDER_REGISTRY)
    .action((registry: string) => console.log(builderRef(registry)))
  builder
    .command('build')
    .description('Build the image from Debian packages (as root; cached per definition) and optionally push it.')
    .option('--push <registry>', 'push it to <registry>/nbs/builder:<tag> and print that reference')
    .option('--insecure', 'the registry speaks plain HTTP or has an unverified certificate')
    .action(async (o: { push?: string; insecure?: boolean }) => {
      const archive = await buildBuilderImage(log)
      log(`image: oci-archive:${archive}`)
      if (!o.push) return
      const ref = builderRef(o.push)
      await pushArchive(archive, [ref], !o.insecure)
      log(`pushed; set NBS_BUILDAH_IMAGE=${ref} on the server (nbs serve, or the server job's buildah_image)`)
      console.log(ref)
    })
}
