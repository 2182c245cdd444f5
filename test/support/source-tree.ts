// A directory to build from an upload: a relative symlink that must arrive as one, and files the upload must leave out.
import { cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { busyboxDockerfile } from './dev-stack'

/** A fresh tree whose Dockerfile copies all of it to /app in the image; `sourceChecks` prove what arrived. */
export function sourceTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-source-'))
  // The host's static busybox gives the FROM scratch image a shell, as the dev Git server does for examples/.
  cpSync('/bin/busybox', join(dir, 'busybox'))
  writeFileSync(join(dir, 'Dockerfile'), busyboxDockerfile('COPY . /app'))
  mkdirSync(join(dir, 'data'))
  writeFileSync(join(dir, 'data', 'real.txt'), 'real\n')
  symlinkSync('data/real.txt', join(dir, 'link.txt'))
  writeFileSync(join(dir, 'secret.env'), 'TOKEN=do-not-send\n')
  writeFileSync(join(dir, '.dockerignore'), 'secret.env\n')
  mkdirSync(join(dir, '.git'))
  writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n')
  return dir
}

/** Test commands run in the image: the symlink is one and leads to the file; the ignored file and .git are absent. */
export const sourceChecks = ['test -L /app/link.txt && test "$(readlink /app/link.txt)" = data/real.txt && test "$(cat /app/link.txt)" = real', '! test -e /app/secret.env && ! test -e /app/.git']
