// The loop this product exists for: an agent's build fails, it reads the build log over MCP, finds
// the failing step and its error, pushes a fix to the Git server, resubmits, and reaches SUCCEEDED.
import { expect, test } from 'bun:test'
import { busyboxDockerfile, gitRepo, urls } from '../support/dev-stack'
import { mcpSession } from '../support/surfaces'

const { call } = mcpSession()

async function buildToEnd(repo: string): Promise<Record<string, any>> {
  const submitted = await call('submitJob', { repo, image: `${urls.registry}/test/agent-loop`, tags: ['fixed'], test: { commands: ['app --version'] } })
  expect(submitted.isError).toBeFalsy()
  const r = await call('waitForJob', { id: submitted.structuredContent?.id, until: 'final', timeoutSeconds: 120 })
  return r.structuredContent as Record<string, any>
}

test('broken Containerfile → read the build log → push a fix → SUCCEEDED', async () => {
  const name = `agent-loop-${Date.now()}`
  const broken = busyboxDockerfile('RUN printf "#!/bin/sh\\necho app 1.0\\n" > /bin/app && chmod +x /bin/ap', 'RUN ap --version')
  const repo = await gitRepo(name, { Containerfile: broken })

  const first = await buildToEnd(repo)
  expect(first.status).toBe('FAILED')
  expect(first.failure.reason).toBe('build_failed')

  // What an agent does: read the build phase's log and find the failing step and its error.
  const logs = await call('getLogs', { id: first.id, phase: 'build' })
  const text = logs.structuredContent?.logs[0].text as string
  const failed = /^Error: building at STEP "(?<step>.+)": exit status (?<code>\d+)$/m.exec(text)?.groups
  expect(failed?.step).toBe('RUN printf "#!/bin/sh\\necho app 1.0\\n" > /bin/app && chmod +x /bin/ap')
  expect(failed?.code).toBe('1')
  expect(text).toContain("chmod: /bin/ap: No such file or directory")

  // The fix: the chmod named the wrong file, and so did the next step.
  const fixed = broken.replace('chmod +x /bin/ap', 'chmod +x /bin/app').replace('RUN ap --version', 'RUN app --version')
  await gitRepo(name, { Containerfile: fixed })

  const second = await buildToEnd(repo)
  expect(second.status).toBe('SUCCEEDED')
  expect(second.result.images).toEqual([`${urls.registry}/test/agent-loop:fixed`])
  expect(second.result.commit).not.toBe(first.result?.commit)
  const testLog = await call('getLogs', { id: second.id, phase: 'test' })
  expect(testLog.structuredContent?.logs[0].text).toContain('app 1.0')
}, 240_000)
