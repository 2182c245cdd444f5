import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../infra/config.ts";

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
      buildahImage: "quay.io/buildah/stable",
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
        policyName: "nbs-build",
        role: "nbs-build",
        authPath: "jwt-nomad",
        allowedPathPrefixes: ["kv/data/nbs/"],
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
      vault: { allowedPathPrefixes: ["secret/data/ci/"] },
    });
    expect(cfg.replicas).toBe(5);
    expect(cfg.datacenters).toEqual(["dc1", "dc2"]);
    expect(cfg.gpu).toEqual({ nodePool: "a100", description: "Nodes with nvidia/gpu devices for GPU test phases" });
    expect(cfg.cacheVolume.capacityMax).toBe("200GiB");
    expect(cfg.cacheVolume.capacityMin).toBe("10GiB");
    expect(cfg.vault.allowedPathPrefixes).toEqual(["secret/data/ci/"]);
    expect(cfg.vault.policyName).toBe("nbs-build");
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
    [{ vault: { allowedPathPrefixes: ["kv/data/nbs"] } }, "/vault/allowedPathPrefixes/0"],
    [{ vault: { allowedPathPrefixes: ["*"] } }, "/vault/allowedPathPrefixes/0"],
    [{ vault: { allowedPathPrefixes: [] } }, "/vault/allowedPathPrefixes"],
    [{ nomadAddress: "nomad:4646" }, "/nomadAddress"],
    [{ gpu: { nodePool: "default" } }, "/gpu/nodePool"],
    [{ gpu: { nodePool: "all" } }, "/gpu/nodePool"],
  ])("rejects %j", (input, path) => {
    expect(() => resolveConfig(input)).toThrow(path);
  });
});
