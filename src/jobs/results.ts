// The result contract: the small files the phase scripts leave in the alloc dir's nbs/ folder, and
// what each means. Their names are spelled here only: the scripts get them as shell variables
// (resultsPrelude, put before every phase script), and the status reader reads the same names.

/** The folder under the alloc root (Nomad's alloc/, the tasks' $NOMAD_ALLOC_DIR). */
export const RESULTS_DIR = 'alloc/nbs'

/** What the phase scripts leave for the server (the status, runInImage), and the later tasks may read too. */
export const RESULT_FILES = {
  /** build: the commit that was built, one line. */
  commit: 'commit',
  /** build: why the node cannot run the build (the phase exits INFRASTRUCTURE_EXIT), one line. */
  infrastructure: 'infrastructure',
  /**
   * build: the image runInImage starts from, `<image id> <step> <steps>`: the built image (step =
   * steps), or after a failed step the last one that succeeded. Named on the node until pruned.
   */
  runImage: 'run-image',
  /**
   * build (raw_exec): the path of the node's cache volume, from the servers (common.sh: open_store);
   * the tests, publish and runInImage open the same store.
   */
  storeDir: 'store-dir',
  /** build: the store driver it chose for the allocation; tests and publish use the same. */
  storageDriver: 'storage-driver',
  /** publish: the manifest digest of what it pushed. */
  digest: 'digest',
  /** publish: each reference once its push has succeeded, one a line. */
  published: 'published',
  /** publish: why it pushed nothing, one line. */
  skipped: 'publish.skipped',
  /** run (runInImage): the command's exit code, once it has ended. */
  runExit: 'run.exit',
  /** run: what the command printed on stdout, cut at the limit. */
  runStdout: 'run.stdout',
  /** run: what it printed on stderr, cut at the limit. */
  runStderr: 'run.stderr',
  /** run: present when an output was cut. */
  runTruncated: 'run.truncated',
  /** run: the image was not in the node's store (pruned), with Buildah's words. */
  runMissing: 'run.missing',
} as const

/** Hand-offs between the tasks of one build, which the server never reads. */
export const HANDOFF_FILES = {
  /** build → publish: the image was built (the build phase's last step). */
  buildOk: 'build.ok',
  /** build: the ID of the image it built, which it then names (common.sh: names). */
  imageId: 'image-id',
} as const

/** A phase's exit when the node, not the request, is at fault (common.sh: infra, beside the infrastructure file). */
export const INFRASTRUCTURE_EXIT = 78

/** test-N: the command's exit code, written when it ended. */
export const testExitFile = (task: string) => `${task}.exit`

const shellName = (key: string) => `r_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`

/** The scripts' names for the files: `state` is the folder, `r_build_ok` etc. its files. */
export function resultsPrelude(): string {
  const folder = RESULTS_DIR.split('/').at(-1)
  const lines = [`state="$NOMAD_ALLOC_DIR/${folder}"`]
  for (const [key, file] of Object.entries({ ...RESULT_FILES, ...HANDOFF_FILES })) lines.push(`${shellName(key)}="$state/${file}"`)
  lines.push(`r_test_exit="$state/$NOMAD_TASK_NAME${testExitFile('')}"`, `r_exit_suffix=${testExitFile('')}`, `r_infrastructure_exit=${INFRASTRUCTURE_EXIT}`)
  return `${lines.join('\n')}\n`
}
