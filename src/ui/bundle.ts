// The dashboard's browser bundle, made by `bun build` from src/ui/main.tsx. Imported as a macro, so the bundle is
// made when this file is transpiled: by `bun build --compile` into the executable, or at the first request when the
// server runs from source.

/** The minified bundle. Bun.build cannot run inside a macro (the bundler would wait on itself), so the CLI does. */
export function uiBundle(): string {
  const entry = `${import.meta.dir}/main.tsx`
  const r = Bun.spawnSync([process.execPath, 'build', '--minify', '--target=browser', '--format=esm', entry], {
    cwd: `${import.meta.dir}/../..`,
    stderr: 'pipe',
  })
  if (r.exitCode !== 0) throw new Error(`bun build ${entry}: ${r.stderr.toString()}`)
  return r.stdout.toString()
}
