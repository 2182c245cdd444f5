import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolveConfig } from "../../infra/config.ts";
import { vaultPolicyHcl, vaultRole } from "../../infra/policies.ts";
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

  test("server ACL policy grants exactly these capabilities and nothing else", () => {
    const p = only(out.resource.nomad_acl_policy);
    expect(p.name).toBe("nbs-server");
    expect(p.job_acl).toEqual({ namespace: "default", job_id: "nomad-build-service" });
    // The whole document, so adding or removing any capability, namespace, variables
    // path, host volume or top-level rule (node, agent, operator...) fails here.
    expect(JSON.parse(p.rules_hcl)).toEqual({
      namespace: {
        nbs: {
          capabilities: ["submit-job", "read-job", "list-jobs", "read-logs", "read-fs"],
          variables: { path: { "nbs-records/*": { capabilities: ["list", "read", "write", "destroy"] } } },
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
        buildah_image: "quay.io/buildah/stable",
        cache_volume: "buildah-cache",
        gpu_node_pool: "gpu",
        nomad_auth: "workload-identity",
      },
    });
    expect(job.detach).toBe(false);
    expect(job.depends_on).toEqual(["nomad_acl_policy.server_acl_policy", "nomad_namespace.build_namespace"]);
  });

  test("Vault policy is output and matches the committed infra/vault files", () => {
    const cfg = resolveConfig();
    expect(out.output.vault_policy_hcl!.value).toBe(vaultPolicyHcl(cfg));
    expect(readFileSync(new URL("../../infra/vault/nbs-build.hcl", import.meta.url), "utf8")).toBe(vaultPolicyHcl(cfg));
    expect(JSON.parse(out.output.vault_role_json!.value as string)).toEqual(vaultRole(cfg));
    expect(JSON.parse(readFileSync(new URL("../../infra/vault/nbs-build-role.json", import.meta.url), "utf8"))).toEqual(
      vaultRole(cfg),
    );
  });
});

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

describe("Vault policy", () => {
  test("read-only on each allowed prefix, nothing else", () => {
    expect(parseVaultPolicy(vaultPolicyHcl(resolveConfig()))).toEqual({ "kv/data/nbs/*": ["read"] });
    const cfg = resolveConfig({ vault: { allowedPathPrefixes: ["kv/data/nbs/", "secret/data/ci/registry/"] } });
    expect(parseVaultPolicy(vaultPolicyHcl(cfg))).toEqual({
      "kv/data/nbs/*": ["read"],
      "secret/data/ci/registry/*": ["read"],
    });
  });

  test("JWT role: build namespace, build/publish tasks only", () => {
    const role = vaultRole(resolveConfig({ namespace: "ci-builds" }));
    expect(role.bound_claims).toEqual({ nomad_namespace: "ci-builds", nomad_task: ["build", "publish"] });
    expect(role.token_policies).toEqual(["nbs-build"]);
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
    const p = only(out.resource.nomad_acl_policy);
    expect(p.name).toBe("builds-api");
    expect(p.job_acl).toEqual({ namespace: "platform", job_id: "nomad-build-service" });
    expect(JSON.parse(p.rules_hcl)).toEqual({
      namespace: {
        "ci-builds": {
          capabilities: ["submit-job", "read-job", "list-jobs", "read-logs", "read-fs"],
          variables: { path: { "nbs-records/*": { capabilities: ["list", "read", "write", "destroy"] } } },
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
      buildah_image: "quay.io/buildah/stable",
      cache_volume: "bcache",
      gpu_node_pool: "a100",
      nomad_auth: "variable",
      nomad_addr: "https://nomad.service.consul:4646",
    });
    expect(job.depends_on).toContain("nomad_namespace.server_namespace");
  });
});

test("a shared namespace keeps the server's docker driver enabled", () => {
  const out = synth({ profile: "raw_exec", serverNamespace: "nbs" });
  expect(out.resource.nomad_namespace!.build_namespace!.capabilities).toEqual({ enabled_task_drivers: ["raw_exec", "docker"] });
  expect(out.resource.nomad_namespace!.server_namespace).toBeUndefined();
});

test("the cdktf app (infra/main.ts) synthesizes to infra/cdktf.out with a config file and NOMAD_ADDR", () => {
  const cfgFile = tmpFile("infra-config.json", JSON.stringify({ replicas: 3 }));
  const r = Bun.spawnSync([process.execPath, "infra/main.ts"], {
    cwd: new URL("../..", import.meta.url).pathname,
    env: { ...process.env, NBS_INFRA_CONFIG: cfgFile, NOMAD_ADDR: "http://10.1.2.3:4646" },
  });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const out = JSON.parse(readFileSync(new URL("../../infra/cdktf.out/stacks/nbs/cdk.tf.json", import.meta.url), "utf8"));
  expect(out.provider.nomad).toEqual([{ address: "http://10.1.2.3:4646" }]);
  expect(out.resource.nomad_job.server_job.hcl2.vars.replicas).toBe("3");
});
