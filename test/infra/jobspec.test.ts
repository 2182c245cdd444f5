// jobspecs/server.nomad.hcl checked with Nomad's own HCL2 job parser and ACL policy parser
// (test/infra/nomadcheck, Nomad v1.10.5 packages), plus a Terraform round trip of the
// escaped jobspec when a terraform binary is on PATH. nomadcheck is built through the Go module proxy.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVER_JOBSPEC_PATH, terraformEscape } from "../../infra/stack.ts";
import { nomadCheck, nomadCheckBin, synth, terraformUnescape, tmpFile } from "./helpers.ts";

const jobspec = readFileSync(SERVER_JOBSPEC_PATH, "utf8");
const parse = (vars: Record<string, string> = {}) =>
  nomadCheck(["jobspec", SERVER_JOBSPEC_PATH, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);

describe("server jobspec text", () => {
  test("declares the operator-facing variables", () => {
    const vars = [...jobspec.matchAll(/^variable "([a-z_]+)"/gm)].map((m) => m[1]);
    expect(vars.sort()).toEqual(
      ["buildah_image", "build_namespace", "cache_volume", "datacenters", "gpu_node_pool", "image", "namespace", "nomad_addr", "nomad_auth", "profile", "replicas"].sort(),
    );
    expect(jobspec).toMatch(/variable "replicas" \{\s*type\s*=\s*number\s*default\s*=\s*2\s*\}/);
  });
});

describe.skipIf(!nomadCheckBin)("server jobspec parsed by Nomad's jobspec2", () => {
  test("defaults", () => {
    const r = parse();
    expect(r.stderr).toBe("");
    const job = r.json;
    expect(job.ID).toBe("nomad-build-service");
    expect(job.Type).toBe("service");
    expect(job.Namespace).toBe("default");
    expect(job.Datacenters).toEqual(["*"]);
    expect(job.Update).toMatchObject({ MaxParallel: 1, HealthCheck: "checks", AutoRevert: true });
    expect(job.TaskGroups).toHaveLength(1);
    const g = job.TaskGroups[0];
    expect(g.Count).toBe(2);
    expect(g.RestartPolicy).toMatchObject({ Attempts: 3, Mode: "delay" });
    expect(g.Networks[0].DynamicPorts).toMatchObject([{ Label: "http", To: 8080 }]);
    const svc = g.Services[0];
    expect(svc).toMatchObject({ Name: "nomad-build-service", Provider: "nomad", PortLabel: "http" });
    expect(svc.Checks.map((c: any) => [c.Name, c.Type, c.Path])).toEqual([
      ["healthz", "http", "/healthz"],
      ["readyz", "http", "/readyz"],
    ]);
    expect(svc.Checks[0].CheckRestart).toMatchObject({ Limit: 3 });
    expect(svc.Checks[1].CheckRestart).toBeNull();
    const t = g.Tasks[0];
    expect(t.Driver).toBe("docker");
    expect(t.Config).toMatchObject({ image: "nbs:latest", ports: ["http"], cap_drop: ["all"] });
    expect(t.Identity).toMatchObject({ Env: true });
    expect(t.Templates.map((x: any) => x.DestPath)).toEqual(["secrets/clients.json"]);
    expect(t.Env).toEqual({
      NBS_LISTEN: "0.0.0.0:8080",
      NBS_NOMAD_ADDR: "http://${attr.unique.network.ip-address}:4646",
      NBS_NOMAD_NAMESPACE: "nbs",
      NBS_DATACENTERS: "*",
      NBS_PROFILE: "docker",
      NBS_BUILDAH_IMAGE: "quay.io/buildah/stable",
      NBS_CACHE_VOLUME: "buildah-cache",
      NBS_GPU_NODE_POOL: "gpu",
      NBS_CLIENTS_FILE: "${NOMAD_SECRETS_DIR}/clients.json",
    });
  });

  test("the vars cdktf passes, after Terraform's unescaping, parse and apply", () => {
    const out = synth({
      replicas: 3,
      datacenters: ["dc1", "dc2"],
      image: "registry.example.com/nbs:1.2.3",
      nomadAuth: "variable",
      serverNomadAddr: "https://nomad.example.com:4646",
      profile: "raw_exec",
    });
    const job = Object.values(out.resource.nomad_job!)[0]!;
    const specFile = tmpFile("server.nomad.hcl", terraformUnescape(job.jobspec));
    const vars = Object.entries(job.hcl2.vars as Record<string, string>).map(([k, v]) => `${k}=${terraformUnescape(v)}`);
    const r = nomadCheck(["jobspec", specFile, ...vars]);
    expect(r.stderr).toBe("");
    const g = r.json.TaskGroups[0];
    const t = g.Tasks[0];
    expect(r.json.Datacenters).toEqual(["dc1", "dc2"]);
    expect(g.Count).toBe(3);
    expect(t.Config.image).toBe("registry.example.com/nbs:1.2.3");
    expect(t.Env).toMatchObject({ NBS_PROFILE: "raw_exec", NBS_DATACENTERS: "dc1,dc2", NBS_NOMAD_ADDR: "https://nomad.example.com:4646" });
    // Token mode: no workload identity in env, NOMAD_TOKEN from the Variable instead.
    expect(t.Identity).toBeNull();
    const token = t.Templates.find((x: any) => x.DestPath === "secrets/nomad-token.env");
    expect(token).toMatchObject({ Envvars: true });
    expect(token.EmbeddedTmpl).toContain('nomadVar "nomad/jobs/nomad-build-service"');
  });

  test.each([
    ["profile", "exec"],
    ["nomad_auth", "static"],
  ])("rejects %s=%s", (k, v) => {
    const r = parse({ [k]: v });
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(`The ${k} must be`);
  });
});

describe.skipIf(!nomadCheckBin)("server ACL policy parsed by Nomad's acl package", () => {
  test("effective permissions are exactly the intended ones", () => {
    const out = synth();
    const rules = Object.values(out.resource.nomad_acl_policy!)[0]!.rules_hcl as string;
    const r = nomadCheck(["policy", tmpFile("policy.json", rules), "nbs,default,other", "buildah-cache,other"]);
    expect(r.stderr).toBe("");
    expect(r.json).toEqual({
      namespaces: {
        nbs: ["list-jobs", "read-job", "submit-job", "read-logs", "read-fs"],
        default: [],
        other: [],
      },
      variables: { nbs: [], default: [], other: [] },
      hostVolumes: { "buildah-cache": ["mount-readwrite"], other: [] },
      nodeRead: false,
      nodeWrite: false,
      agentRead: false,
      agentWrite: false,
      operatorRead: false,
      operatorWrite: false,
      quotaRead: false,
      pluginRead: false,
      nodePoolRead: false,
    });
  });
});

describe.skipIf(!Bun.which("terraform"))("Terraform reads the escaped jobspec back unchanged", () => {
  test("round trip through a terraform output", () => {
    const dir = mkdtempSync(join(tmpdir(), "nbs-tf-"));
    const original = jobspec + '\n# and these: %{ if } ${x} $${y}\n';
    Bun.write(join(dir, "main.tf.json"), JSON.stringify({ output: { o: { value: terraformEscape(original) } } }));
    const env = { ...process.env, TF_IN_AUTOMATION: "1", CHECKPOINT_DISABLE: "1" };
    for (const args of [["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]]) {
      const r = Bun.spawnSync(["terraform", ...args], { cwd: dir, env });
      expect(r.exitCode).toBe(0);
    }
    const r = Bun.spawnSync(["terraform", "output", "-raw", "o"], { cwd: dir, env });
    expect(r.stdout.toString()).toBe(original);
  });
});
