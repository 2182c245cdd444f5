// The production (docker) profile and GPU requests against the dev agent: valid jobs, honest placement failures.
import { beforeAll, describe, expect, test } from 'bun:test'
import { renderJob } from '../../src/jobs/render'
import type { JobRequest } from '../../src/jobs/request'
import { BuildService } from '../../src/service/build-service'
import { resolve } from 'node:path'
import { config, ensureStack, nomad, profile, service, urls } from '../support/dev-stack'
import { nomadCheck, nomadCheckBin } from '../infra/helpers'

beforeAll(ensureStack, 180_000)

const request: JobRequest = { repo: `${urls.git}/hello-world`, image: `${urls.registry}/e2e/profiles`, test: { commands: ['true'] } }
const docker = new BuildService(nomad, { ...config, profile: 'docker' })

describe('job validation by the Nomad agent', () => {
  test.each(['docker', 'raw_exec'] as const)('the %s profile renders a job Nomad validates without errors', async (profile) => {
    const job = renderJob({ id: '20261125-000000-000000', request: { ...request, test: { ...request.test, gpus: { count: 1 } } }, createdAt: new Date() }, { ...config, profile })
    const answer = await nomad.jobs.validate(job)
    expect(answer.ValidationErrors ?? []).toEqual([])
    expect(answer.Error ?? '').toBe('')
  })

  test('validation is not a rubber stamp: a job with a task missing its driver is refused', async () => {
    const job = renderJob({ id: '20261125-000000-000000', request, createdAt: new Date() }, { ...config, profile: 'docker' })
    job.TaskGroups[0]!.Tasks[0]!.Driver = ''
    const answer = await nomad.jobs.validate(job).catch((e: Error) => ({ ValidationErrors: [e.message], Error: e.message }))
    expect(JSON.stringify(answer)).toMatch(/driver/i)
  })
})

describe('placement failures said in words', () => {
  // Only a node without Docker shows it: the docker profile's stack gives its node a docker driver.
  test.skipIf(profile === 'docker')('a docker-profile build on a node without Docker: FAILED infrastructure, "no node has the docker driver"', async () => {
    const { id } = await docker.submitJob(request)
    const st = await docker.waitForJob({ id, until: 'final', timeoutSeconds: 30 })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.message).toContain('no node has the docker driver')
  })

  test('a GPU test phase on a node without GPUs: FAILED infrastructure, "no node has a free nvidia/gpu"', async () => {
    const { id } = await service.submitJob({ ...request, test: { commands: ['nvidia-smi'], gpus: { count: 1 } } })
    const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 30 })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.message).toContain('no node has a free nvidia/gpu')
    expect((await service.getStatus(id)).failure?.message).toBe(st.failure?.message)
  })
})

describe.skipIf(!nomadCheckBin)('the service job from jobspecs/server.nomad.hcl', () => {
  test("parsed into api.Job by test/infra/nomadcheck (hcl/v2), it passes the agent's job validation", async () => {
    const r = nomadCheck(['jobspec', resolve(import.meta.dir, '../../jobspecs/server.nomad.hcl')])
    expect(r.stderr).toBe('')
    const answer = await nomad.jobs.validate(r.json)
    expect(answer.ValidationErrors ?? []).toEqual([])
    expect(answer.Error ?? '').toBe('')
  })
})
