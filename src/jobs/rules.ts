// Each pattern of the input schemas said as a rule a person can follow: a refusal quotes the rule, never the regex.
import { jobRefPattern, taskPattern } from './ids'
import {
  envNamePattern,
  gpuModelPattern,
  gpuVendorPattern,
  imagePattern,
  refPattern,
  relativePathPattern,
  sourcePattern,
  tagPattern,
  targetPattern,
} from './request'
import { SecretRefs, secretRefPattern } from './secrets'

// secrets.ts writes the build secret id pattern inline; the schema is where it lives.
const [buildSecretIdPattern = ''] = Object.keys(SecretRefs.properties.build.patternProperties)

const rules = new Map<string, string>([
  [imagePattern, 'must be a lowercase repository path without a tag, e.g. host:5000/team/app (an optional registry host[:port]/, then lowercase letters, digits, . _ - between slashes); put tags in `tags`'],
  [tagPattern, 'must be 1 to 128 letters, digits, _ . or -, not starting with . or -'],
  [envNamePattern, 'must be a variable name: up to 128 letters, digits and _, not starting with a digit'],
  [refPattern, 'must be a branch, tag or commit: 1 to 255 letters, digits, . _ / @ + -, not starting with -'],
  [targetPattern, 'must be a stage name: up to 128 letters, digits, _ . -, starting with a letter or digit'],
  [gpuVendorPattern, 'must be a lowercase vendor name such as nvidia: up to 32 letters, digits, _ -'],
  [gpuModelPattern, 'must be a device model such as "Tesla T4": up to 64 letters, digits, spaces, . _ -'],
  [relativePathPattern, 'must be a relative path inside the repository or uploaded directory: no leading /, no .. part, only letters, digits, spaces and . _ / @ + -'],
  [sourcePattern, 'must be an upload id as POST /v1/sources (or `nbs upload DIR`) answered it: "sha256:" and 64 lowercase hex digits'],
  [secretRefPattern, 'must be a reference, never a value: "nomad:<variable path>" or "vault:<kv path>", optionally ending in #item; path parts of letters, digits, _ - (and . inside Vault names) separated by /; no . or .. part'],
  [buildSecretIdPattern, 'must be a secret id of 1 to 64 letters, digits, _ . -'],
  [jobRefPattern, 'must be a job id as submitJob returned it, e.g. 20261125-123456-a1b2c3 (the Nomad job id nbs-20261125-123456-a1b2c3 works too)'],
  [taskPattern, 'must be one task: build, test-N (N = 0, 1, …; see the job status) or publish'],
])

/** The rule behind a pattern, in words; undefined for a pattern nobody wrote one for (a test guards against that). */
export const ruleOf = (pattern: string): string | undefined => rules.get(pattern)
