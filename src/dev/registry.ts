// Reads of the dev registry (Docker's registry HTTP API v2): which images it serves, by digest.

/** The manifest types the registry may hold: skopeo copies an OCI archive as an OCI manifest. */
const manifestTypes = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

/** The digest `registry` (host:port, plain HTTP) serves for `repository:tag`, or undefined when it has no such tag. */
export async function manifestDigest(registry: string, repository: string, tag: string): Promise<string | undefined> {
  const res = await fetch(`http://${registry}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: manifestTypes }, signal: AbortSignal.timeout(5000) })
  if (res.status === 404) return undefined
  if (!res.ok) throw new Error(`the registry ${registry} answered ${res.status} for ${repository}:${tag}`)
  return res.headers.get('Docker-Content-Digest') ?? undefined
}
