// Shared helpers for the infra tests: synthesize the stack in memory (no Terraform, no
// network), and nomadcheck, which reads jobspecs and ACL policies as Nomad does.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing } from "cdktf";
import { resolveConfig, type InfraConfigInput } from "../../infra/config.ts";
import { NbsStack } from "../../infra/stack.ts";

export type Synth = {
  resource: Record<string, Record<string, Record<string, any>>>;
  output: Record<string, { value: unknown; description?: string }>;
  provider: Record<string, unknown[]>;
};

export function synth(input: InfraConfigInput = {}): Synth {
  const app = Testing.app();
  const stack = new NbsStack(app, "nbs", resolveConfig(input));
  return JSON.parse(Testing.synth(stack)) as Synth;
}

/** Undo Terraform JSON template escapes: what the Nomad provider receives. */
export const terraformUnescape = (s: string) => s.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");

const dir = mkdtempSync(join(tmpdir(), "nbs-infra-"));
export const tmpFile = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

// Built through the Go module proxy (about 25 s on a fresh machine). Only a proxy that cannot
// be reached skips the tests that need it, and says so; any other failure to build fails.
function buildNomadCheck(): string | undefined {
  const bin = join(dir, "nomadcheck");
  const r = Bun.spawnSync(["go", "build", "-o", bin, "."], {
    cwd: join(import.meta.dir, "nomadcheck"),
    env: process.env,
  });
  if (r.exitCode === 0) return bin;
  const stderr = r.stderr.toString();
  // How the go command reports a module download that never got an HTTP answer.
  if (/: Get "https?:\/\/[^"]*": |GOPROXY=off/.test(stderr)) {
    console.warn(`Go module proxy unreachable: nomadcheck not built, its tests skipped:\n${stderr.slice(0, 500)}`);
    return undefined;
  }
  throw new Error(`test/infra/nomadcheck does not build:\n${stderr}`);
}
export const nomadCheckBin = buildNomadCheck();

export function nomadCheck(args: string[]): { ok: boolean; json?: any; stderr: string } {
  const r = Bun.spawnSync([nomadCheckBin!, ...args]);
  const stderr = r.stderr.toString();
  return r.exitCode === 0 ? { ok: true, json: JSON.parse(r.stdout.toString()), stderr } : { ok: false, stderr };
}
