// One typed config object for the infrastructure stack. Every field has a default, so
// `resolveConfig({})` is a complete, working configuration; overrides are deep-merged.
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { builderRef, DEFAULT_BUILDER_REGISTRY } from "../src/builder/definition.ts";
import { ClientEntry } from "../src/service/clients.ts";

// Nomad object names: namespaces, node pools, volumes, policies (conservative subset).
const Name = Type.String({ pattern: "^[a-zA-Z0-9][a-zA-Z0-9_-]{0,127}$" });

export const InfraConfigSchema = Type.Object({
  /** Nomad API address for the provider; unset: NOMAD_ADDR (read by main.ts), else http://127.0.0.1:4646. */
  nomadAddress: Type.Optional(Type.String({ pattern: "^https?://" })),
  /** Namespace the build jobs (`nbs-*`) run in; created by the stack. */
  namespace: Type.String({ ...Name, default: "nbs" }),
  /** Namespace the server job itself runs in. Kept apart from builds so the server's
   *  token (which can submit jobs in `namespace`) cannot rewrite its own job. */
  serverNamespace: Type.String({ ...Name, default: "default" }),
  /** Fixed ID of the service job; the workload-associated ACL policy names it. */
  serverJobId: Type.Literal("nomad-build-service", { default: "nomad-build-service" }),
  replicas: Type.Integer({ minimum: 1, maximum: 50, default: 2 }),
  image: Type.String({ minLength: 1, default: "nbs:latest" }),
  datacenters: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: ["*"] }),
  profile: Type.Union([Type.Literal("docker"), Type.Literal("raw_exec")], { default: "docker" }),
  /** The project's builder image (images/builder/) as `make builder-image` pushes it to a registry
   *  on each node's loopback, the server's own default; set it to where you pushed the image. */
  buildahImage: Type.String({ minLength: 1, default: builderRef(DEFAULT_BUILDER_REGISTRY) }),
  /** The server's client list, as in its clients file (token hashes only; the schema the server
   *  reads it with refuses any other field). Written to the server job's own Variable, which
   *  the job waits for: without it a deploy would hang until Nomad gave the deployment up. */
  clients: Type.Array(ClientEntry, { default: [] }),
  /** How the server authenticates to Nomad: its workload identity (no long-lived secret)
   *  or an ACL token stored in the Nomad Variable `nomad/jobs/<serverJobId>` (item nomad_token). */
  nomadAuth: Type.Union([Type.Literal("workload-identity"), Type.Literal("variable")], {
    default: "workload-identity",
  }),
  /** Nomad address the server uses; empty: the jobspec default (the agent on its node). */
  serverNomadAddr: Type.String({ default: "" }),
  cacheVolume: Type.Object(
    {
      name: Type.String({ ...Name, default: "buildah-cache" }),
      /** `mkdir` ships with Nomad ≥ 1.10; it does not enforce capacity (quota needs another plugin). */
      pluginId: Type.String({ minLength: 1, default: "mkdir" }),
      capacityMin: Type.String({ pattern: "^[0-9]+(MiB|GiB|TiB|MB|GB|TB)$", default: "10GiB" }),
      capacityMax: Type.String({ pattern: "^[0-9]+(MiB|GiB|TiB|MB|GB|TB)$", default: "50GiB" }),
      /** One volume per listed node; empty: a single volume the scheduler places. */
      nodeIds: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
      nodePool: Type.String({ ...Name, default: "default" }),
      /** Plugin parameters. For `mkdir`: the directory belongs to the `build` user (uid 1000)
       *  that Buildah runs as in the builder image, so the rootless store can write it. */
      parameters: Type.Record(Type.String(), Type.String(), { default: { uid: "1000", gid: "1000", mode: "0750" } }),
    },
    { default: {} },
  ),
  gpu: Type.Object(
    {
      /** Node pool GPU nodes join (client `node_pool = "gpu"`); GPU builds set `node_pool`. */
      nodePool: Type.String({ ...Name, default: "gpu" }),
      description: Type.String({ default: "Nodes with nvidia/gpu devices for GPU test phases" }),
    },
    { default: {} },
  ),
  vault: Type.Object(
    {
      /** Each client's Vault policy and JWT role is named `<role>-<client>`: the server's
       *  NBS_VAULT_ROLE (default nbs-build), which it suffixes with the caller's name. */
      role: Type.String({ pattern: "^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$", default: "nbs-build" }),
      /** Vault JWT auth mount Nomad workload identities use. */
      authPath: Type.String({ minLength: 1, default: "jwt-nomad" }),
      /** The clients whose builds read Vault secrets, as in the server's clients file: each gets a
       *  policy that reads below its own path prefixes and nothing else, and a role for it. */
      clients: Type.Array(
        Type.Object(
          {
            name: Type.String({ pattern: "^[a-z0-9][a-z0-9_-]{0,62}$" }),
            /** KV paths its secret references may name: the `vault:` entries of its secretPrefixes. */
            // Whole segments, none of them "." or "..": Vault would resolve those past the prefix.
            pathPrefixes: Type.Array(Type.String({ pattern: "^[a-zA-Z0-9_-]+(?:/(?!\\.{1,2}/)[a-zA-Z0-9_.-]+)+/$" }), { minItems: 1 }),
          },
          { additionalProperties: false },
        ),
        { default: [] },
      ),
      /** Only these tasks get the Vault role: test tasks run user commands and must not see secrets. */
      boundTasks: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: ["build", "publish"] }),
    },
    { default: {} },
  ),
  aclPolicyName: Type.String({ ...Name, default: "nbs-server" }),
});

export type InfraConfig = Static<typeof InfraConfigSchema>;

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type InfraConfigInput = DeepPartial<InfraConfig>;

/** Fill defaults, validate, and throw with every error on an invalid config. */
export function resolveConfig(input: InfraConfigInput = {}): InfraConfig {
  const value = Value.Default(InfraConfigSchema, structuredClone(input));
  const errors = [...Value.Errors(InfraConfigSchema, value)];
  if (errors.length > 0) {
    throw new Error(`invalid infra config: ${errors.map((e) => `${e.path || "/"} ${e.message}`).join("; ")}`);
  }
  const cfg = value as InfraConfig;
  if (cfg.gpu.nodePool === "default" || cfg.gpu.nodePool === "all") {
    throw new Error(`invalid infra config: /gpu/nodePool must not be a built-in pool (${cfg.gpu.nodePool})`);
  }
  const names = cfg.vault.clients.map((c) => c.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`invalid infra config: /vault/clients names ${twice} twice: one policy and role per client`);
  return cfg;
}

/**
 * The Vault clients of the server's clients file (`{"clients": [{"name", "secretPrefixes"}]}`):
 * each client's `vault:` prefixes, as the paths below which its policy reads. A prefix matches
 * whole segments (src/jobs/secrets.ts), so "vault:kv/data/nbs/a" reads below "kv/data/nbs/a/".
 */
export function vaultClientsOf(clientsFile: { clients: { name: string; secretPrefixes: string[] }[] }): InfraConfig["vault"]["clients"] {
  return clientsFile.clients.flatMap(({ name, secretPrefixes }) => {
    const pathPrefixes = secretPrefixes.filter((p) => p.startsWith("vault:")).map((p) => p.slice("vault:".length).replace(/\/?$/, "/"));
    return pathPrefixes.length ? [{ name, pathPrefixes }] : [];
  });
}
