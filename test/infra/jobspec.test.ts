// jobspecs/server.nomad.hcl and the server's ACL policy read as Nomad reads them, by
// test/infra/nomadcheck (Go, MPL code only: hcl/v2 and Nomad's api package), the job then
// validated by the dev stack's Nomad agent; plus a Terraform round trip of the escaped jobspec
// when a terraform binary is on PATH. nomadcheck is built through the Go module proxy.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVER_JOBSPEC_PATH, terraformEscape } from "../../infra/stack.ts";
import { builderRef, DEFAULT_BUILDER_REGISTRY } from "../../src/builder/definition.ts";
import { loadConfig } from "../../src/config.ts";
import { ensureStack, nomad, urls } from "../support/dev-stack.ts";
import { nomadCheck, nomadCheckBin, synth, terraformUnescape, tmpFile } from "./helpers.ts";

const jobspec = readFileSync(SERVER_JOBSPEC_PATH, "utf8");
const parse = (vars: Record<string, string> = {}, file = SERVER_JOBSPEC_PATH) =>
  nomadCheck(["jobspec", file, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);

/** The jobspec with one piece of text replaced, which must be there. */
const variant = (from: string, to: string) => {
  expect(jobspec).toContain(from);
  return tmpFile("variant.nomad.hcl", jobspec.replace(from, to));
};

// nomadcheck only decodes; Nomad's semantic checks are the agent's.
async function expectNomadAccepts(job: unknown) {
  const answer = await nomad.jobs.validate(job as never);
  expect(answer.ValidationErrors ?? []).toEqual([]);
  expect(answer.Error ?? "").toBe("");
}

describe("server jobspec text", () => {
  test("declares the operator-facing variables", () => {
    const vars = [...jobspec.matchAll(/^variable "([a-z_]+)"/gm)].map((m) => m[1]);
    expect(vars.sort()).toEqual(
      ["buildah_image", "build_namespace", "cache_volume", "datacenters", "gpu_node_pool", "image", "namespace", "nomad_addr", "nomad_auth", "profile", "replicas", "source_spool_mb", "vault_role"].sort(),
    );
    expect(jobspec).toMatch(/variable "replicas" \{\s*type\s*=\s*number\s*default\s*=\s*2\s*\}/);
  });

  test("the builder image by default is this version's, as the server's own default names it", () => {
    const block = /variable "buildah_image" \{[^}]*\}/.exec(jobspec)?.[0] ?? "";
    // After a change to images/builder/, the default is what `nbs builder ref localhost:5000` prints.
    expect(/^\s*default\s*=\s*"([^"]*)"/m.exec(block)?.[1]).toBe(builderRef(DEFAULT_BUILDER_REGISTRY));
    expect(builderRef(DEFAULT_BUILDER_REGISTRY)).toBe(loadConfig({}).buildahImage);
  });
});

describe.skipIf(!nomadCheckBin)("server jobspec read as Nomad reads it, validated by the dev agent", () => {
  // The agent the dev stack uses (NBS_DEV_NOMAD_PORT); `make test` has it up already.
  beforeAll(async () => {
    const up = await fetch(`${urls.nomad}/v1/status/leader`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (!up) await ensureStack();
  }, 180_000);

  test("defaults", async () => {
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
    // The upload spool is in the allocation: its disk holds the spool's bound and some room.
    expect(g.EphemeralDisk).toMatchObject({ SizeMB: 2048 + 256 });
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
      NBS_ADVERTISE_URL: "http://${NOMAD_ADDR_http}",
      NBS_SOURCE_DIR: "${NOMAD_TASK_DIR}/sources",
      NBS_SOURCE_SPOOL_MB: "2048",
      NBS_LISTEN: "0.0.0.0:8080",
      NBS_NOMAD_ADDR: "http://${attr.unique.network.ip-address}:4646",
      NBS_NOMAD_NAMESPACE: "nbs",
      NBS_DATACENTERS: "*",
      NBS_PROFILE: "docker",
      NBS_BUILDAH_IMAGE: builderRef(DEFAULT_BUILDER_REGISTRY),
      NBS_CACHE_VOLUME: "buildah-cache",
      NBS_GPU_NODE_POOL: "gpu",
      NBS_VAULT_ROLE: "nbs-build",
      NBS_CLIENTS_FILE: "${NOMAD_SECRETS_DIR}/clients.json",
    });
    await expectNomadAccepts(job);
  });

  test("the vars cdktf passes, after Terraform's unescaping, parse and apply", async () => {
    const out = synth({
      replicas: 3,
      datacenters: ["dc1", "dc2"],
      image: "registry.example.com/nbs:1.2.3",
      nomadAuth: "variable",
      serverNomadAddr: "https://nomad.example.com:4646",
      profile: "raw_exec",
      vault: { role: "ci-build", authPath: "jwt-nomad", clients: [] },
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
    expect(t.Env).toMatchObject({ NBS_PROFILE: "raw_exec", NBS_DATACENTERS: "dc1,dc2", NBS_NOMAD_ADDR: "https://nomad.example.com:4646", NBS_VAULT_ROLE: "ci-build" });
    // Token mode: no workload identity in env, NOMAD_TOKEN from the Variable instead.
    expect(t.Identity).toBeNull();
    const token = t.Templates.find((x: any) => x.DestPath === "secrets/nomad-token.env");
    expect(token).toMatchObject({ Envvars: true });
    expect(token.EmbeddedTmpl).toContain('nomadVar "nomad/jobs/nomad-build-service"');
    await expectNomadAccepts(r.json);
  });

  test.each([
    ["profile", "exec"],
    ["nomad_auth", "static"],
  ])("rejects %s=%s", (k, v) => {
    const r = parse({ [k]: v });
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(`The ${k} must be`);
  });

  test.each([
    ["a misspelt argument", "count = var.replicas", "cuont = var.replicas", 'An argument named "cuont" is not expected here'],
    ["a task argument in the group", 'shutdown_delay = "5s"', 'kill_timeout = "5s"', 'An argument named "kill_timeout" is not expected here'],
    ["a misspelt block", "resources {", "resource {", 'Blocks of type "resource" are not expected here'],
    ["a block in the wrong place", "    restart {", "    check_restart {", 'Blocks of type "check_restart" are not expected here'],
    ["a wrongly typed value", "cpu    = 200", 'cpu    = "lots"', 'Inappropriate value for "cpu"'],
    ["a duration that is not one", 'kill_timeout = "30s"', 'kill_timeout = "30 seconds"', 'Inappropriate value for "kill_timeout"'],
  ])("refuses %s", (_, from, to, message) => {
    const r = parse({}, variant(from, to));
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(message);
  });

  test("refuses a value for a variable the jobspec does not declare", () => {
    const r = parse({ replica: "3" });
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('"replica=3" does not set a variable the jobspec declares');
  });

  test("the agent's validation is not a rubber stamp: a task without a driver is refused", async () => {
    const r = parse({}, variant('driver       = "docker"', 'driver       = ""'));
    expect(r.stderr).toBe("");
    const answer = await nomad.jobs.validate(r.json).catch((e: Error) => ({ ValidationErrors: [e.message], Error: e.message }));
    expect(JSON.stringify(answer)).toMatch(/driver/i);
  });
});

// nomadcheck reports a capability together with every one Nomad's ACL policy specification
// says it "implicitly grants", so these lists are everything the token can do.
describe.skipIf(!nomadCheckBin)("server ACL policy as Nomad's ACL policy specification defines it", () => {
  test("effective permissions are exactly the intended ones", () => {
    const out = synth();
    const rules = out.resource.nomad_acl_policy!.server_acl_policy!.rules_hcl as string;
    const r = nomadCheck(["policy", tmpFile("policy.json", rules), "nbs,default,other", "buildah-cache,other"]);
    expect(r.stderr).toBe("");
    expect(r.json).toEqual({
      namespaces: {
        // read-job and list-jobs imply reading and listing CSI volumes; nothing more.
        nbs: ["list-jobs", "read-job", "submit-job", "read-logs", "read-fs", "csi-read-volume", "csi-list-volume"],
        default: [],
        other: [],
      },
      // The build records and the uploads' entries only: secrets (nbs/...) stay out of the server's reach.
      variables: {
        nbs: [
          "list:nbs-records/x", "list:nbs-sources/x", "read:nbs-records/x", "read:nbs-sources/x",
          "write:nbs-records/x", "write:nbs-sources/x", "destroy:nbs-records/x", "destroy:nbs-sources/x",
        ],
        default: [],
        other: [],
      },
      // mount-readwrite also allows a read-only mount.
      hostVolumes: { "buildah-cache": ["mount-readonly", "mount-readwrite"], other: [] },
      // The nodes' capacity tells a build that waits in the queue from one that never fits.
      nodeRead: true,
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

  test("the builds' policy: their own job and node read (the publish fence, the raw_exec store), nothing else", () => {
    const rules = synth().resource.nomad_acl_policy!.build_acl_policy!.rules_hcl as string;
    const r = nomadCheck(["policy", tmpFile("builds.json", rules), "nbs,default,other", "buildah-cache,other"]);
    expect(r.stderr).toBe("");
    expect(r.json).toMatchObject({
      namespaces: { nbs: ["read-job", "csi-read-volume", "csi-list-volume"], default: [], other: [] },
      variables: { nbs: [], default: [], other: [] },
      hostVolumes: { "buildah-cache": [], other: [] },
      nodeRead: true,
      nodeWrite: false,
      agentRead: false,
      operatorRead: false,
    });
  });

  // The reading above is only as good as nomadcheck's: its shorthands, globs and deny, on a
  // policy that uses them all, in HCL this time.
  test("policy shorthands, glob labels, deny and variables paths as documented", () => {
    const policy = `
      namespace "*" { policy = "read" }
      namespace "prod-*" {
        policy = "write"
        variables {
          path "*" { capabilities = ["write"] }
          path "nbs/*" { capabilities = ["read"] }
        }
      }
      namespace "prod-secret" { capabilities = ["deny", "read-job"] }
      host_volume "*" { policy = "write" }
      host_volume "prod-*" { policy = "read" }
      node_pool "g*" { policy = "read" }
      node { policy = "read" }
      operator { policy = "write" }
      plugin { policy = "list" }
    `;
    const r = nomadCheck(["policy", tmpFile("policy.hcl", policy), "default,prod-web,prod-secret", "cache,prod-db"]);
    expect(r.stderr).toBe("");
    const read = ["parse-job", "list-jobs", "read-job", "csi-read-volume", "csi-list-volume", "list-scaling-policies", "read-scaling-policy", "read-job-scaling", "host-volume-read"];
    expect(r.json).toEqual({
      namespaces: {
        default: read,
        "prod-web": [
          "parse-job", "list-jobs", "read-job", "submit-job", "dispatch-job", "read-logs", "read-fs", "alloc-lifecycle", "alloc-exec",
          "csi-read-volume", "csi-write-volume", "csi-list-volume", "csi-mount-volume", "list-scaling-policies", "read-scaling-policy",
          "read-job-scaling", "scale-job", "host-volume-create", "host-volume-register", "host-volume-write", "host-volume-read",
          "host-volume-delete", "submit-recommendation",
        ],
        "prod-secret": ["deny"],
      },
      variables: {
        default: [],
        "prod-web": [
          "list:nbs/x", "list:nbs-records/x", "list:nbs-sources/x", "list:nomad/jobs/x", "list:x",
          "read:nbs/x",
          "write:nbs-records/x", "write:nbs-sources/x", "write:nomad/jobs/x", "write:x",
        ],
        "prod-secret": [],
      },
      hostVolumes: { cache: ["mount-readonly", "mount-readwrite"], "prod-db": ["mount-readonly"] },
      nodeRead: true,
      nodeWrite: false,
      agentRead: false,
      agentWrite: false,
      operatorRead: true,
      operatorWrite: true,
      quotaRead: false,
      pluginRead: false,
      nodePoolRead: true,
    });
  });

  test.each([
    ['namespace "nbs" { capabilities = ["read-jobs"] }', '"read-jobs" is not a capability this rule takes'],
    ['namespace "nbs" { policy = "admin" }', '"admin" is not a policy this rule takes'],
    ['host_volumes "x" { policy = "read" }', 'Blocks of type "host_volumes" are not expected here'],
    ['{"namespace": {"nbs": {"capabilites": ["read-job"]}}}', 'No argument or block type is named "capabilites"'],
  ])("refuses %s", (policy, message) => {
    const r = nomadCheck(["policy", tmpFile("bad-policy", policy), "nbs", "x"]);
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(message);
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
