// What the dashboard reads out of a Buildah log: cache hits and the failing step's lines.
import { describe, expect, test } from 'bun:test'
import { cacheHits, failingStepLines } from '../../src/ui/build-log'

// As the dev stack's raw_exec build of examples/broken-build prints it (Buildah 1.28), a second time: cache hits.
const broken = [
  '==> nbs: commit ba6c83c759d8d59347599e59fe162f78066b2248',
  'STEP 1/5: FROM scratch',
  'STEP 2/5: COPY busybox /bin/busybox',
  '--> Using cache 4ece5a1db57f9123ed07a8a4050faa3806b8334610f38dacf7caafa841666b08',
  'STEP 3/5: RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin"]',
  '--> Using cache e401e248aa934b8b40d76dbd1f807fcff658d7b08e7b3b3ec8936be43ff56bd7',
  'STEP 4/5: RUN make-the-app --release',
  '/bin/sh: make-the-app: not found',
  'subprocess exited with status 127',
  'Error: building at STEP "RUN make-the-app --release": exit status 127',
]

describe('build log', () => {
  test('cache hits count against the steps begun', () => {
    expect(cacheHits(broken.join('\n'))).toEqual({ steps: 4, cached: 2 })
    expect(cacheHits('')).toEqual({ steps: 0, cached: 0 })
  })

  test('an image the node reused whole: no steps, and its ID', () => {
    const id = 'c8e5de4a95354931d1878099fef3e83917a18a4a077a225b249cf30bfb4d644c'
    const log = ['==> nbs: commit ba6c83c759d8d59347599e59fe162f78066b2248', `==> nbs: reusing image ${id}: this node built it from the same repository (9eb18b2c30131509658943f18e3ee20d700ab7b0) with the same settings, and Buildah would take every step from its cache (noCache: true builds again)`]
    expect(cacheHits(log.join('\n'))).toEqual({ steps: 0, cached: 0, reused: id })
  })

  test('the failing step runs from its STEP line to the end, or to the next step', () => {
    expect(failingStepLines(broken)).toEqual({ from: 6, to: 10 })
    expect(failingStepLines(broken, { index: 3, total: 5 })).toEqual({ from: 4, to: 6 })
    // A multi-stage build counts each stage's steps anew: the status's index and total pick the one.
    expect(failingStepLines([...broken, 'STEP 1/2: FROM app', 'STEP 2/2: RUN false'], { index: 4, total: 5 })).toEqual({ from: 6, to: 10 })
    expect(failingStepLines(['==> nbs: fetching', 'fatal: no such ref'])).toBeUndefined()
  })
})
