// The phase scripts, embedded at build time so the compiled binary carries them.
import build from '../../jobspecs/tasks/build.sh' with { type: 'text' }
import common from '../../jobspecs/tasks/common.sh' with { type: 'text' }
import publish from '../../jobspecs/tasks/publish.sh' with { type: 'text' }
import prune from '../../jobspecs/tasks/prune.sh' with { type: 'text' }
import run from '../../jobspecs/tasks/run.sh' with { type: 'text' }
import test from '../../jobspecs/tasks/test.sh' with { type: 'text' }
import { resultsPrelude } from './results'

export type PhaseScript = 'build' | 'test' | 'publish' | 'run'

// Publish ends with the cache prune, kept in a file of its own.
const bodies: Record<PhaseScript, string> = { build, test, publish: `${prune}\n${publish}`, run }

/** What every phase script starts with: the result contract's names, then common.sh. */
export const taskPrelude = `${resultsPrelude()}${common}`

export const phaseScript = (phase: PhaseScript): string => `${taskPrelude}\n${bodies[phase]}`
