// The result contract has one owner: src/jobs/results.ts spells the files' names, the phase
// scripts use its shell names, and the status reader its constants.
import { describe, expect, test } from 'bun:test'
import build from '../../jobspecs/tasks/build.sh' with { type: 'text' }
import common from '../../jobspecs/tasks/common.sh' with { type: 'text' }
import publish from '../../jobspecs/tasks/publish.sh' with { type: 'text' }
import testPhase from '../../jobspecs/tasks/test.sh' with { type: 'text' }
import { HANDOFF_FILES, RESULT_FILES, resultsPrelude, testExitFile } from '../../src/jobs/results'

const scripts = { build, common, publish, test: testPhase }

describe('the result contract', () => {
  test.each(Object.entries(scripts))('%s.sh spells no result file name of its own', (_, body) => {
    const code = body.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n')
    // A file is spelled where a path is made of it: $state/<name>, or <name> after a $t-like prefix.
    for (const file of Object.values({ ...RESULT_FILES, ...HANDOFF_FILES })) expect(code).not.toContain(`$state/${file}`)
    expect(code).not.toContain(`${testExitFile('')}"`)
    expect(code).not.toMatch(/\$NOMAD_ALLOC_DIR\/nbs/)
  })

  test('every file the scripts write has its shell name in the prelude, under $state', () => {
    const prelude = resultsPrelude()
    for (const file of Object.values({ ...RESULT_FILES, ...HANDOFF_FILES })) expect(prelude).toContain(`="$state/${file}"`)
    expect(prelude).toContain('r_test_exit="$state/$NOMAD_TASK_NAME.exit"')
    const used = new Set([...Object.values(scripts).join('\n').matchAll(/\$(r_[a-z_]+)/g)].map((m) => m[1]))
    for (const name of used) expect(prelude).toContain(`${name}=`)
  })
})
