// The OpenAPI document: valid OpenAPI 3.1, every operation present with its summary, schemas from typebox.
import { describe, expect, test } from 'bun:test'
import SwaggerParser from '@apidevtools/swagger-parser'
import { createApp } from '../../src/http/app'
import { Value } from '@sinclair/typebox/value'
import { JobRequest } from '../../src/jobs/request'
import { FailureCause } from '../../src/jobs/status-schema'
import { literalValues, validateRequest } from '../../src/jobs/validate'
import { ensureStack, service } from '../support/surfaces'
import { RunRequest } from '../../src/service/schemas'

const app = createApp(service)

describe('OpenAPI', () => {
  test('/openapi.json is a valid OpenAPI 3.1 document with every operation', async () => {
    const res = await app.handle(new Request('http://localhost/openapi.json'))
    expect(res.status).toBe(200)
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { summary?: string; tags?: string[]; requestBody?: unknown; parameters?: { name: string; in: string }[]; responses: Record<string, unknown> }>> }
    expect(doc.openapi).toStartWith('3.1')
    // validate() dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(doc) as never)
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
    for (const op of [
      'POST /v1/jobs',
      'GET /v1/jobs',
      'GET /v1/jobs/{id}',
      'GET /v1/jobs/{id}/wait',
      'GET /v1/jobs/{id}/logs',
      'DELETE /v1/jobs/{id}',
      'POST /v1/cleanup',
      'GET /healthz',
      'GET /readyz',
    ])
      expect(ops).toContain(op)
    expect(ops.some((o) => o.includes('/mcp'))).toBe(false)
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [m, op] of Object.entries(methods)) {
        expect({ op: `${m} ${path}`, summary: typeof op.summary }).toEqual({ op: `${m} ${path}`, summary: 'string' })
        expect(op.tags?.length ?? 0).toBeGreaterThan(0)
      }
    const submit = doc.paths['/v1/jobs']?.post
    expect(JSON.stringify(submit?.requestBody)).toContain('"additionalProperties":false')
    expect(Object.keys(submit?.responses ?? {})).toEqual(expect.arrayContaining(['201', '400']))
    const logs = doc.paths['/v1/jobs/{id}/logs']?.get
    expect(logs?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['path:id', 'query:phase', 'query:task', 'query:tail', 'query:follow']))
    // A status answer documents failure.cause with every value it can take, and the failing step.
    const status = JSON.stringify(doc.paths['/v1/jobs/{id}']?.get?.responses['200'])
    for (const word of [...literalValues(FailureCause)!, '"step"', '"summary"', '"hint"', '"exitCode"']) expect(status).toContain(word)
  })

  // Every request body's example, as the docs offer it to be sent. POST /v1/jobs's is checked, not sent: sending
  // it would start a real build that clones from github.com, which CI machines and sandboxes may not reach, and
  // pushes to a registry they have no credentials for. It is checked by what the route runs before Nomad is asked
  // (the schema, then the server's own rules) under the strictest policy, so every server accepts it. The others
  // are sent to the app on the dev stack and must get a 2xx.
  test('every request body has examples, and each is a request the server accepts', async () => {
    await ensureStack()
    const doc = (await (await app.handle(new Request('http://localhost/openapi.json'))).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { examples?: unknown[] } }> } }>>
    }
    const withBodies = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).flatMap(([method, op]) => (op.requestBody ? [{ path, method, schema: op.requestBody.content['application/json']?.schema }] : [])),
    )
    expect(withBodies.map((o) => `${o.method} ${o.path}`).sort()).toEqual(['post /v1/cleanup', 'post /v1/jobs', 'post /v1/jobs/{id}/run'])
    for (const { path, method, schema } of withBodies) {
      expect({ path, examples: schema?.examples?.length ?? 0 }).toEqual({ path, examples: 1 })
      for (const example of schema?.examples ?? []) {
        if (path === '/v1/jobs') {
          expect(Value.Errors(JobRequest, example).First()).toBeUndefined()
          expect(validateRequest(example, { allowInsecureGit: false, secretPrefixes: [], sshHostKeyChecking: true })).toEqual(example as never)
          continue
        }
        // A run needs an ended build; the example is checked against the schema the route validates with.
        if (path === '/v1/jobs/{id}/run') {
          expect(Value.Errors(RunRequest, example).First()).toBeUndefined()
          continue
        }
        const res = await app.handle(
          new Request(`http://localhost${path}`, { method: method.toUpperCase(), headers: { 'content-type': 'application/json' }, body: JSON.stringify(example) }),
        )
        expect({ path, example, status: res.status }).toEqual({ path, example, status: 200 })
      }
    }
  })

  test('/docs serves the interactive reference pointing at the document', async () => {
    const res = await app.handle(new Request('http://localhost/docs'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    const html = await res.text()
    // Scalar's configuration; "openapi.json" relative to /docs is /openapi.json.
    const config = JSON.parse(/data-configuration='([^']+)'/.exec(html)?.[1] ?? '{}') as { url?: string }
    expect(new URL(config.url ?? '', 'http://localhost/docs').pathname).toBe('/openapi.json')
  })
})
