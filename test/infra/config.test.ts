import { describe, expect, test } from "bun:test";
import { resolveConfig, vaultClientsOf } from "../../infra/config.ts";
import { builderRef, DEFAULT_BUILDER_REGISTRY } from "../../src/builder/definition.ts";

describe("infra config", () => {
  test("defaults form a complete config", () => {
    expect(resolveConfig()).toEqual({
      namespace: "nbs",
      serverNamespace: "default",
      serverJobId: "nomad-build-service",
      replicas: 2,
      image: "nbs:latest",
      datacenters: ["*"],
      profile: "docker",
      buildahImage: builderRef(DEFAULT_BUILDER_REGISTRY),
      clients: [],
      nomadAuth: "workload-identity",
      serverNomadAddr: "",
      cacheVolume: {
        name: "buildah-cache",
        pluginId: "mkdir",
        capacityMin: "10GiB",
        capacityMax: "50GiB",
        nodeIds: [],
        nodePool: "default",
        parameters: { uid: "1000", gid: "1000", mode: "0750" },
      },
      gpu: { nodePool: "gpu", description: "Nodes with nvidia/gpu devices for GPU test phases" },
      vault: {
        role: "nbs-build",
        authPath: "jwt-nomad",
        clients: [],
        boundTasks: ["build", "publish"],
      },
      aclPolicyName: "nbs-server",
    });
  });

  test("overrides merge deeply and replace arrays", () => {
    const cfg = resolveConfig({
      replicas: 5,
      datacenters: ["dc1", "dc2"],
      gpu: { nodePool: "a100" },
      cacheVolume: { capacityMax: "200GiB" },
      vault: { clients: [{ name: "team-a", pathPrefixes: ["secret/data/ci/"] }] },
    });
    expect(cfg.replicas).toBe(5);
    expect(cfg.datacenters).toEqual(["dc1", "dc2"]);
    expect(cfg.gpu).toEqual({ nodePool: "a100", description: "Nodes with nvidia/gpu devices for GPU test phases" });
    expect(cfg.cacheVolume.capacityMax).toBe("200GiB");
    expect(cfg.cacheVolume.capacityMin).toBe("10GiB");
    expect(cfg.vault.clients).toEqual([{ name: "team-a", pathPrefixes: ["secret/data/ci/"] }]);
    expect(cfg.vault.role).toBe("nbs-build");
  });

  test("the input object is not mutated and defaults are not shared", () => {
    const input = { cacheVolume: { name: "cache-a" } };
    const a = resolveConfig(input);
    a.datacenters.push("mutated");
    expect(input).toEqual({ cacheVolume: { name: "cache-a" } });
    expect(resolveConfig().datacenters).toEqual(["*"]);
  });

  test.each([
    [{ replicas: 0 }, "/replicas"],
    [{ replicas: 1.5 }, "/replicas"],
    [{ namespace: "bad name" }, "/namespace"],
    [{ profile: "exec" as never }, "/profile"],
    [{ datacenters: [] }, "/datacenters"],
    [{ cacheVolume: { capacityMin: "10 gigs" } }, "/cacheVolume/capacityMin"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: ["kv/data/nbs"] }] } }, "/vault/clients/0/pathPrefixes/0"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: ["*"] }] } }, "/vault/clients/0/pathPrefixes/0"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: ["kv/data/a/../b/"] }] } }, "/vault/clients/0/pathPrefixes/0"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: ["kv//data/a/"] }] } }, "/vault/clients/0/pathPrefixes/0"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: ["kv/"] }] } }, "/vault/clients/0/pathPrefixes/0"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: [] }] } }, "/vault/clients/0/pathPrefixes"],
    [{ vault: { clients: [{ name: "Team A", pathPrefixes: ["kv/data/a/"] }] } }, "/vault/clients/0/name"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: ["kv/data/a/"], policies: ["root"] }] } } as never, "/vault/clients/0/policies"],
    [{ vault: { clients: [{ name: "a", pathPrefixes: ["kv/data/a/"] }, { name: "a", pathPrefixes: ["kv/data/b/"] }] } }, "/vault/clients names a twice"],
    // The clients Variable holds hashes only: a token itself is refused, as the server refuses it.
    [{ clients: [{ name: "a", token: "nbs_plain", tokenSha256: "0".repeat(64), secretPrefixes: [] }] } as never, "/clients/0/token"],
    [{ clients: [{ name: "a", tokenSha256: "nbs_plain", secretPrefixes: [] }] }, "/clients/0/tokenSha256"],
    [{ nomadAddress: "nomad:4646" }, "/nomadAddress"],
    [{ gpu: { nodePool: "default" } }, "/gpu/nodePool"],
    [{ gpu: { nodePool: "all" } }, "/gpu/nodePool"],
  ])("rejects %j", (input, path) => {
    expect(() => resolveConfig(input)).toThrow(path);
  });
});

test("the Vault clients of the server's clients file: each client's vault: prefixes, on whole segments; nomad: ones need no policy", () => {
  expect(
    vaultClientsOf({
      clients: [
        { name: "team-a", secretPrefixes: ["vault:kv/data/nbs/team-a/", "nomad:nbs/team-a/", "vault:kv/data/ci/a"] },
        { name: "dev", secretPrefixes: ["nomad:nbs/dev/"] },
      ],
    }),
  ).toEqual([{ name: "team-a", pathPrefixes: ["kv/data/nbs/team-a/", "kv/data/ci/a/"] }]);
});
