import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolveConfig } from "../../infra/config.ts";
import { vaultFiles, vaultName, vaultPolicyHcl, vaultRole } from "../../infra/policies.ts";
import { builderRef, DEFAULT_BUILDER_REGISTRY } from "../../src/builder/definition.ts";
import { loadConfig } from "../../src/config.ts";
import { Clients } from "../../src/service/clients.ts";
import { renderJob } from "../../src/jobs/render.ts";
import { SERVER_JOBSPEC_PATH } from "../../infra/stack.ts";
import { synth, terraformUnescape, tmpFile } from "./helpers.ts";

const only = <T>(m: Record<string, T> | undefined): T => {
  const values = Object.values(m ?? {});
  expect(values).toHaveLength(1);
  return values[0]!;
};

describe("synthesized stack (defaults)", () => {
  const out = synth();

  test("has exactly the expected resource types", () => {
    expect(Object.keys(out.resource).sort()).toEqual([
      "nomad_acl_policy",
      "nomad_dynamic_host_volume",
      "nomad_job",
      "nomad_namespace",
      "nomad_node_pool",
      "nomad_variable",
    ]);
    expect(out.provider).toEqual({ nomad: [{ address: "http://127.0.0.1:4646" }] });
  });

  test("Buildah cache: one dynamic host volume in the build namespace", () => {
    const v = only(out.resource.nomad_dynamic_host_volume);
    expect(v.name).toBe("buildah-cache");
    expect(v.namespace).toBe("nbs");
    expect(v.plugin_id).toBe("mkdir");
    expect(v.capacity_min).toBe("10GiB");
    expect(v.capacity_max).toBe("50GiB");
    expect(v.node_pool).toBe("default");
    expect(v.node_id).toBeUndefined();
    expect(v.parameters).toEqual({ uid: "1000", gid: "1000", mode: "0750" });
    expect(v.capability).toEqual([{ access_mode: "single-node-multi-writer", attachment_mode: "file-system" }]);
    expect(v.depends_on).toEqual(["nomad_namespace.build_namespace"]);
  });

  test("build namespace allows only the profile's task driver", () => {
    const ns = only(out.resource.nomad_namespace);
    expect(ns.name).toBe("nbs");
    expect(ns.capabilities).toEqual({ enabled_task_drivers: ["docker"] });
  });

  test("GPU node pool", () => {
    const pool = only(out.resource.nomad_node_pool);
    expect(pool.name).toBe("gpu");
    expect(pool.description).toContain("nvidia/gpu");
  });

  test("the builds' workload identity may read job and node in the build namespace, nothing else", () => {
    const p = out.resource.nomad_acl_policy!.build_acl_policy!;
    expect(p.name).toBe("nbs-server-builds");
    expect(p.job_acl).toEqual({ namespace: "nbs", job_id: "" });
    expect(JSON.parse(p.rules_hcl)).toEqual({ namespace: { nbs: { capabilities: ["read-job"] } }, node: { policy: "read" } });
  });

  test("server ACL policy grants exactly these capabilities and nothing else", () => {
    const p = out.resource.nomad_acl_policy!.server_acl_policy!;
    expect(p.name).toBe("nbs-server");
    expect(p.job_acl).toEqual({ namespace: "default", job_id: "nomad-build-service" });
    // The whole document, so adding or removing any capability, namespace, variables
    // path, host volume or top-level rule (node, agent, operator...) fails here.
    expect(JSON.parse(p.rules_hcl)).toEqual({
      namespace: {
        nbs: {
          capabilities: ["submit-job", "read-job", "list-jobs", "read-logs", "read-fs"],
          variables: {
            path: {
              "nbs-records/*": { capabilities: ["list", "read", "write", "destroy"] },
              "nbs-sources/*": { capabilities: ["list", "read", "write", "destroy"] },
            },
          },
        },
      },
      host_volume: {
        "buildah-cache": { capabilities: ["mount-readwrite"] },
      },
      node: { policy: "read" },
    });
  });

  test("service job: the jobspec file itself, with the config's HCL2 vars", () => {
    const job = only(out.resource.nomad_job);
    expect(terraformUnescape(job.jobspec)).toBe(readFileSync(SERVER_JOBSPEC_PATH, "utf8"));
    // Terraform must not interpolate the jobspec's own ${...}: every one is escaped.
    expect(job.jobspec).not.toMatch(/(^|[^$])\$\{/);
    expect(job.hcl2).toEqual({
      vars: {
        image: "nbs:latest",
        replicas: "2",
        namespace: "default",
        build_namespace: "nbs",
        datacenters: '["*"]',
        profile: "docker",
        buildah_image: builderRef(DEFAULT_BUILDER_REGISTRY),
        cache_volume: "buildah-cache",
        gpu_node_pool: "gpu",
        vault_role: "nbs-build",
        nomad_auth: "workload-identity",
      },
    });
    expect(job.detach).toBe(false);
    expect(job.depends_on).toEqual(["nomad_acl_policy.server_acl_policy", "nomad_namespace.build_namespace", "nomad_variable.server_variable"]);
  });

  test("the server's Variable, which its job waits for: written before the job, at the path its template reads, with the client list", () => {
    const v = only(out.resource.nomad_variable);
    expect(v.namespace).toBe("default");
    expect(v.path).toBe("nomad/jobs/nomad-build-service");
    expect(readFileSync(SERVER_JOBSPEC_PATH, "utf8")).toContain(`{{ with nomadVar \\"${v.path}\\" }}{{ .clients }}{{ end }}`);
    // No client configured: a server no token opens, not one that never starts.
    expect(v.items).toEqual({ clients: '{"clients":[]}' });
    expect(out.resource.nomad_acl_token).toBeUndefined();
  });

  test("no Vault client configured: no policy, no role", () => {
    expect(out.output.vault_policies_hcl!.value).toEqual({});
    expect(out.output.vault_roles_json!.value).toEqual({});
  });
});

const teams = {
  vault: {
    clients: [
      { name: "team-a", pathPrefixes: ["kv/data/nbs/team-a/"] },
      { name: "team-b", pathPrefixes: ["kv/data/nbs/team-b/", "secret/data/ci/team-b/"] },
    ],
  },
};

/** path "X" { capabilities = [...] } blocks of a Vault policy, as a map. */
function parseVaultPolicy(hcl: string): Record<string, string[]> {
  const body = hcl.replace(/^\s*#.*$/gm, "").trim();
  const block = /path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}/g;
  const paths: Record<string, string[]> = {};
  let rest = body;
  for (const m of body.matchAll(block)) {
    paths[m[1]!] = [...m[2]!.matchAll(/"([^"]+)"/g)].map((c) => c[1]!);
    rest = rest.replace(m[0], "");
  }
  expect(rest.trim()).toBe(""); // nothing but path blocks
  return paths;
}

describe("Vault: one policy and one role per client", () => {
  const cfg = resolveConfig(teams);
  const [a, b] = cfg.vault.clients;

  test("each policy reads below its own client's prefixes and nothing else", () => {
    expect(parseVaultPolicy(vaultPolicyHcl(cfg, a!))).toEqual({ "kv/data/nbs/team-a/*": ["read"] });
    expect(parseVaultPolicy(vaultPolicyHcl(cfg, b!))).toEqual({
      "kv/data/nbs/team-b/*": ["read"],
      "secret/data/ci/team-b/*": ["read"],
    });
  });

  test("each role: its own policy, the build namespace, build/publish tasks, and identities made for this role", () => {
    const role = vaultRole(resolveConfig({ ...teams, namespace: "ci-builds" }), a!);
    expect(role.bound_claims).toEqual({ nomad_namespace: "ci-builds", nomad_task: ["build", "publish"], vault_role: "nbs-build-team-a" });
    expect(role.token_policies).toEqual(["nbs-build-team-a"]);
    expect(vaultRole(cfg, b!).token_policies).toEqual(["nbs-build-team-b"]);
  });

  test("the role a job's tasks name is the one infra/ made for its owner, and no other", () => {
    const request = { repo: "https://git.example.com/a.git", image: "registry.example.com/a", secrets: { registry: "vault:kv/data/nbs/team-a/registry" } };
    const serverConfig = { ...loadConfig({ NBS_VAULT_ROLE: cfg.vault.role }), profile: "docker" as const };
    const job = renderJob({ id: "20261125-120000-abcdef", request, createdAt: new Date(), owner: "team-a" }, serverConfig);
    const publish = job.TaskGroups[0]!.Tasks.find((t) => t.Name === "publish")!;
    expect(publish.Vault?.Role).toBe(vaultName(cfg, a!));
    // A server without client tokens has no owner to name: its jobs ask for the bare role, which infra/ does not make.
    const anonymous = renderJob({ id: "20261125-120000-abcdef", request, createdAt: new Date() }, serverConfig);
    expect(anonymous.TaskGroups[0]!.Tasks.find((t) => t.Name === "publish")!.Vault?.Role).toBe("nbs-build");
    expect(cfg.vault.clients.map((c) => vaultName(cfg, c))).not.toContain("nbs-build");
  });

  test("outputs: a policy and a role per client, by name", () => {
    const out = synth(teams);
    expect(out.output.vault_policies_hcl!.value).toEqual({ "nbs-build-team-a": vaultPolicyHcl(cfg, a!), "nbs-build-team-b": vaultPolicyHcl(cfg, b!) });
    expect(out.output.vault_roles_json!.value).toEqual({
      "nbs-build-team-a": JSON.stringify(vaultRole(cfg, a!)),
      "nbs-build-team-b": JSON.stringify(vaultRole(cfg, b!)),
    });
  });
});

describe("synthesized stack (overrides)", () => {
  const out = synth({
    namespace: "ci-builds",
    serverNamespace: "platform",
    replicas: 4,
    image: "registry.example.com/nbs:1.2.3",
    datacenters: ["dc1", "dc2"],
    profile: "raw_exec",
    nomadAuth: "variable",
    serverNomadAddr: "https://nomad.service.consul:4646",
    nomadAddress: "https://nomad.example.com:4646",
    cacheVolume: { name: "bcache", pluginId: "lvm", capacityMin: "1GiB", capacityMax: "2GiB", nodeIds: ["n1", "n2"], parameters: { vg: "data" } },
    gpu: { nodePool: "a100" },
    aclPolicyName: "builds-api",
  });

  test("one cache volume per listed node", () => {
    const vols = Object.values(out.resource.nomad_dynamic_host_volume!);
    expect(vols.map((v) => v.node_id)).toEqual(["n1", "n2"]);
    for (const v of vols) {
      expect(v).toMatchObject({ name: "bcache", namespace: "ci-builds", plugin_id: "lvm", capacity_min: "1GiB", capacity_max: "2GiB", parameters: { vg: "data" } });
    }
  });

  test("namespaces, node pool, provider address", () => {
    const ns = out.resource.nomad_namespace!;
    expect(ns.build_namespace).toMatchObject({ name: "ci-builds", capabilities: { enabled_task_drivers: ["raw_exec"] } });
    expect(ns.server_namespace).toMatchObject({ name: "platform" });
    expect(only(out.resource.nomad_node_pool).name).toBe("a100");
    expect(out.provider.nomad).toEqual([{ address: "https://nomad.example.com:4646" }]);
  });

  test("ACL policy follows namespace, volume and server job placement", () => {
    const p = out.resource.nomad_acl_policy!.server_acl_policy!;
    expect(p.name).toBe("builds-api");
    expect(p.job_acl).toEqual({ namespace: "platform", job_id: "nomad-build-service" });
    expect(JSON.parse(p.rules_hcl)).toEqual({
      namespace: {
        "ci-builds": {
          capabilities: ["submit-job", "read-job", "list-jobs", "read-logs", "read-fs"],
          variables: {
            path: {
              "nbs-records/*": { capabilities: ["list", "read", "write", "destroy"] },
              "nbs-sources/*": { capabilities: ["list", "read", "write", "destroy"] },
            },
          },
        },
      },
      host_volume: { bcache: { capabilities: ["mount-readwrite"] } },
      node: { policy: "read" },
    });
  });

  test("job vars carry the overrides", () => {
    const job = only(out.resource.nomad_job);
    expect(job.hcl2.vars).toEqual({
      image: "registry.example.com/nbs:1.2.3",
      replicas: "4",
      namespace: "platform",
      build_namespace: "ci-builds",
      datacenters: '["dc1","dc2"]',
      profile: "raw_exec",
      buildah_image: builderRef(DEFAULT_BUILDER_REGISTRY),
      cache_volume: "bcache",
      gpu_node_pool: "a100",
      vault_role: "nbs-build",
      nomad_auth: "variable",
      nomad_addr: "https://nomad.service.consul:4646",
    });
    expect(job.depends_on).toContain("nomad_namespace.server_namespace");
  });

  test("token mode: the stack makes the server's token with its policy and writes it beside the clients, by reference only", () => {
    const t = only(out.resource.nomad_acl_token);
    expect(t).toEqual({ name: "builds-api", type: "client", policies: ["${nomad_acl_policy.server_acl_policy.name}"] });
    const v = only(out.resource.nomad_variable);
    expect(v).toMatchObject({ namespace: "platform", path: "nomad/jobs/nomad-build-service", depends_on: ["nomad_namespace.server_namespace"] });
    expect(v.items).toEqual({ clients: '{"clients":[]}', nomad_token: "${nomad_acl_token.server_token.secret_id}" });
  });
});

test("clients in the config: the Variable holds them as the server reads them, hashes and all, nothing else", () => {
  const clients = [
    { name: "team-a", tokenSha256: "a".repeat(64), secretPrefixes: ["vault:kv/data/nbs/team-a/"], maxInFlight: 4 },
    { name: "team-a", tokenSha256: "b".repeat(64), secretPrefixes: ["vault:kv/data/nbs/team-a/"] },
    { name: "ci", tokenSha256: "c".repeat(64), secretPrefixes: [] },
  ];
  const items = only(synth({ clients }).resource.nomad_variable).items;
  expect(Object.keys(items)).toEqual(["clients"]);
  expect(JSON.parse(items.clients)).toEqual({ clients });
  expect(Clients.parse(JSON.parse(items.clients)).names).toEqual(["team-a", "team-a", "ci"]);
});

test("a shared namespace keeps the server's docker driver enabled", () => {
  const out = synth({ profile: "raw_exec", serverNamespace: "nbs" });
  expect(out.resource.nomad_namespace!.build_namespace!.capabilities).toEqual({ enabled_task_drivers: ["raw_exec", "docker"] });
  expect(out.resource.nomad_namespace!.server_namespace).toBeUndefined();
});

test("the cdktf app (infra/main.ts) synthesizes to infra/cdktf.out with a config file and NOMAD_ADDR, and writes each Vault client's policy and role from the clients file", () => {
  const cfgFile = tmpFile("infra-config.json", JSON.stringify({ replicas: 3 }));
  const clientsFile = tmpFile(
    "clients.json",
    JSON.stringify({
      clients: [
        { name: "team-a", tokenSha256: "0".repeat(64), secretPrefixes: ["vault:kv/data/nbs/team-a/"] },
        { name: "dev", tokenSha256: "1".repeat(64), secretPrefixes: ["nomad:nbs/dev/"] },
      ],
    }),
  );
  const vaultDir = new URL("../../infra/vault/", import.meta.url).pathname;
  mkdirSync(vaultDir, { recursive: true });
  // A client taken off the list since the last run: its files go.
  writeFileSync(`${vaultDir}nbs-build-gone.hcl`, "path \"kv/*\" {}\n");
  const r = Bun.spawnSync([process.execPath, "infra/main.ts"], {
    cwd: new URL("../..", import.meta.url).pathname,
    env: { ...process.env, NBS_INFRA_CONFIG: cfgFile, NOMAD_ADDR: "http://10.1.2.3:4646", NBS_CLIENTS_FILE: clientsFile },
  });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const out = JSON.parse(readFileSync(new URL("../../infra/cdktf.out/stacks/nbs/cdk.tf.json", import.meta.url), "utf8"));
  expect(out.provider.nomad).toEqual([{ address: "http://10.1.2.3:4646" }]);
  expect(out.resource.nomad_job.server_job.hcl2.vars.replicas).toBe("3");
  const expected = vaultFiles(resolveConfig({ vault: { clients: [{ name: "team-a", pathPrefixes: ["kv/data/nbs/team-a/"] }] } }));
  expect(Object.keys(expected)).toEqual(["nbs-build-team-a.hcl", "nbs-build-team-a-role.json"]);
  expect(Object.fromEntries(readdirSync(vaultDir).map((f) => [f, readFileSync(`${vaultDir}${f}`, "utf8")]))).toEqual(expected);
  expect(Object.keys(out.output.vault_policies_hcl.value)).toEqual(["nbs-build-team-a"]);
  // The same file is the client list the server job's Variable carries.
  expect(JSON.parse(out.resource.nomad_variable.server_variable.items.clients)).toEqual(JSON.parse(readFileSync(clientsFile, "utf8")));
});
