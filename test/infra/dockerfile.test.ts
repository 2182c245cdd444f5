// The Dockerfile cannot be built here (no Docker engine, base images cannot be pulled):
// parse it and check what matters.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
type Instr = { op: string; args: string };
type Stage = { from: string; name?: string; instrs: Instr[] };

function parseDockerfile(text: string): Stage[] {
  const lines = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ") // line continuations
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op, args] = line.match(/^(\S+)\s+(.*)$/)!;
    const instr = { op: op!.toUpperCase(), args: args!.replace(/\s+/g, " ") };
    if (instr.op === "FROM") {
      const m = instr.args.match(/^(\S+)(?:\s+AS\s+(\S+))?$/i)!;
      stages.push({ from: m[1]!, name: m[2], instrs: [] });
    } else if (stages.length) stages.at(-1)!.instrs.push(instr);
    else expect(instr.op).toBe("ARG"); // only ARG may precede the first FROM
  }
  return stages;
}

const stages = parseDockerfile(readFileSync(join(root, "Dockerfile"), "utf8"));
const [build, runtime] = stages as [Stage, Stage];
const ops = (s: Stage, op: string) => s.instrs.filter((i) => i.op === op).map((i) => i.args);

describe("Dockerfile", () => {
  test("two stages: a Bun build stage and a minimal runtime", () => {
    expect(stages).toHaveLength(2);
    expect(build.from).toMatch(/^oven\/bun:/);
    expect(build.name).toBe("build");
    expect(runtime.from).toMatch(/^(gcr\.io\/distroless\/cc|debian:bookworm-slim)/);
  });

  test("the build stage compiles the standalone executable from src/cli/main.ts", () => {
    expect(ops(build, "RUN").some((r) => /bun build --compile .*--outfile dist\/nbs src\/cli\/main\.ts/.test(r))).toBe(true);
  });

  test("the runtime stage holds only the binary", () => {
    expect(ops(runtime, "COPY")).toEqual(["--from=build /src/dist/nbs /usr/local/bin/nbs"]);
    expect(ops(runtime, "RUN")).toEqual([]);
    expect(ops(runtime, "ADD")).toEqual([]);
  });

  test("runs as a non-root user", () => {
    const users = ops(runtime, "USER");
    expect(users).toHaveLength(1);
    const [user, group] = users[0]!.split(":");
    expect(["root", "0"]).not.toContain(user);
    expect(["root", "0"]).not.toContain(group ?? user);
    const idx = (op: string) => runtime.instrs.findIndex((i) => i.op === op);
    expect(idx("USER")).toBeLessThan(idx("ENTRYPOINT"));
  });

  test("listens on all interfaces on 8080", () => {
    expect(ops(runtime, "EXPOSE")).toEqual(["8080"]);
    expect(ops(runtime, "ENV").join(" ")).toMatch(/(^|\s)NBS_LISTEN=0\.0\.0\.0:8080(\s|$)/);
  });

  test("healthcheck, entrypoint and command in exec form", () => {
    const hc = ops(runtime, "HEALTHCHECK");
    expect(hc).toHaveLength(1);
    const cmd = hc[0]!.match(/\bCMD (\[.*\])$/);
    expect(JSON.parse(cmd![1]!)).toEqual(["/usr/local/bin/nbs", "health"]);
    expect(ops(runtime, "ENTRYPOINT").map((a) => JSON.parse(a))).toEqual([["/usr/local/bin/nbs"]]);
    expect(ops(runtime, "CMD").map((a) => JSON.parse(a))).toEqual([["serve"]]);
  });

  test("every file src/ imports from outside src/ is copied into the build stage and not ignored", () => {
    const copied = ops(build, "COPY").flatMap((c) => c.split(" ").slice(0, -1));
    const ignore = readFileSync(join(root, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const ignored = (p: string) =>
      ignore.some((pat) => {
        const re = new RegExp("^" + pat.replace(/[.+^$()|[\]{}]/g, "\\$&").replace(/\*/g, "[^/]*") + "(/|$)");
        return re.test(p);
      });
    const needed = new Set(["package.json", "tsconfig.json", "src/cli/main.ts"]);
    const walk = (d: string): string[] =>
      readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
    for (const file of walk(join(root, "src")).filter((f) => /\.[cm]?[tj]sx?$/.test(f))) {
      for (const m of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = relative(root, resolve(dirname(file), m[1]!));
        if (!target.startsWith("src/")) needed.add(target);
      }
    }
    expect(needed.size).toBeGreaterThan(3); // the task scripts under jobspecs/tasks are among them
    for (const p of needed) {
      expect({ path: p, copied: copied.some((c) => p === c || p.startsWith(c.replace(/\/$/, "") + "/")) }).toEqual({ path: p, copied: true });
      expect({ path: p, ignored: ignored(p) }).toEqual({ path: p, ignored: false });
    }
  });
});
