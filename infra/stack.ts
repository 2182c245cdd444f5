// The Nomad side of a Nomad Build Service deployment.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Construct } from "constructs";
import { TerraformOutput, TerraformStack } from "cdktf";
import { NomadProvider } from "@cdktf/provider-nomad/lib/provider";
import { Namespace } from "@cdktf/provider-nomad/lib/namespace";
import { DynamicHostVolume } from "@cdktf/provider-nomad/lib/dynamic-host-volume";
import { NodePool } from "@cdktf/provider-nomad/lib/node-pool";
import { AclPolicy } from "@cdktf/provider-nomad/lib/acl-policy";
import { AclToken } from "@cdktf/provider-nomad/lib/acl-token";
import { Variable } from "@cdktf/provider-nomad/lib/variable";
import { Job } from "@cdktf/provider-nomad/lib/job";
import type { InfraConfig } from "./config.ts";
import { buildAclPolicy, serverAclPolicyRules, vaultName, vaultPolicyHcl, vaultRole } from "./policies.ts";

/** The jobspec operators can also `nomad job run` directly: one file, two ways in. */
export const SERVER_JOBSPEC_PATH = fileURLToPath(new URL("../jobspecs/server.nomad.hcl", import.meta.url));

/** HCL2 variables for jobspecs/server.nomad.hcl. Values are strings: Nomad parses each as
 *  it parses `-var k=v`, so a list is written in HCL list syntax. */
export function serverJobVars(cfg: InfraConfig): Record<string, string> {
  return {
    image: cfg.image,
    replicas: String(cfg.replicas),
    namespace: cfg.serverNamespace,
    build_namespace: cfg.namespace,
    datacenters: JSON.stringify(cfg.datacenters),
    profile: cfg.profile,
    buildah_image: cfg.buildahImage,
    cache_volume: cfg.cacheVolume.name,
    gpu_node_pool: cfg.gpu.nodePool,
    vault_role: cfg.vault.role,
    nomad_auth: cfg.nomadAuth,
    // Unset: the jobspec's default, the Nomad agent on the server's node.
    ...(cfg.serverNomadAddr ? { nomad_addr: cfg.serverNomadAddr } : {}),
  };
}

/** Terraform reads every JSON string as a template: escape `${` and `%{` so Nomad, not
 *  Terraform, sees the jobspec's own `$${...}` escapes and runtime `${NOMAD_*}` references. */
export function terraformEscape(s: string): string {
  return s.replace(/\$\{/g, "$$${").replace(/%\{/g, "%%{");
}

export class NbsStack extends TerraformStack {
  constructor(scope: Construct, id: string, cfg: InfraConfig) {
    super(scope, id);
    // The token stays out of the synthesized JSON: the provider reads NOMAD_TOKEN itself.
    new NomadProvider(this, "nomad", { address: cfg.nomadAddress ?? "http://127.0.0.1:4646" });

    const buildNs = new Namespace(this, "build_namespace", {
      name: cfg.namespace,
      description: "Nomad Build Service build jobs (nbs-*)",
      // A build job can only use the drivers its profile needs: in production nobody can
      // slip a raw_exec task (a root process on the node) into this namespace.
      // (The server's own docker task too, if an operator puts it in the same namespace.)
      capabilities: {
        enabledTaskDrivers: [...new Set([cfg.profile, ...(cfg.serverNamespace === cfg.namespace ? ["docker"] : [])])],
      },
    });

    const serverNs =
      cfg.serverNamespace === "default" || cfg.serverNamespace === cfg.namespace
        ? undefined
        : new Namespace(this, "server_namespace", {
            name: cfg.serverNamespace,
            description: "Nomad Build Service server",
          });

    // The Buildah store shared by the builds on a node. single-node-multi-writer: concurrent
    // builds on one node share it (containers/storage locks it).
    const volumeTargets: (string | undefined)[] = cfg.cacheVolume.nodeIds.length ? cfg.cacheVolume.nodeIds : [undefined];
    volumeTargets.forEach((nodeId, i) => {
      new DynamicHostVolume(this, nodeId ? `cache_volume_${i}` : "cache_volume", {
        name: cfg.cacheVolume.name,
        namespace: cfg.namespace,
        pluginId: cfg.cacheVolume.pluginId,
        capacityMin: cfg.cacheVolume.capacityMin,
        capacityMax: cfg.cacheVolume.capacityMax,
        nodePool: cfg.cacheVolume.nodePool,
        parameters: cfg.cacheVolume.parameters,
        ...(nodeId ? { nodeId } : {}),
        capability: [{ accessMode: "single-node-multi-writer", attachmentMode: "file-system" }],
        dependsOn: [buildNs],
      });
    });

    const gpuPool = new NodePool(this, "gpu_node_pool", {
      name: cfg.gpu.nodePool,
      description: cfg.gpu.description,
    });

    // Attached to the server job's workload identity (job_acl); an operator may also
    // create a token with it for nomad_auth = "variable".
    const policy = new AclPolicy(this, "server_acl_policy", {
      name: cfg.aclPolicyName,
      description: "Nomad Build Service server: manage build jobs in its namespace",
      rulesHcl: serverAclPolicyRules(cfg),
      jobAcl: { namespace: cfg.serverNamespace, jobId: cfg.serverJobId },
      dependsOn: [buildNs, ...(serverNs ? [serverNs] : [])],
    });

    // Attached to every job of the build namespace: the builds' tasks ask the servers about their
    // own allocation and node through the Task API.
    new AclPolicy(this, "build_acl_policy", {
      name: `${cfg.aclPolicyName}-builds`,
      description: "Nomad Build Service builds: read their own allocation and node",
      rulesHcl: JSON.stringify(buildAclPolicy(cfg), null, 2) + "\n",
      // The provider requires job_id; an empty one is Nomad's "every job of the namespace" (build
      // job ids are made per build). Tried on an ACL-enabled Nomad 2.0.5: with this policy a
      // task's Task API reads of its node and allocation answer 200; without it, 403 and 500.
      jobAcl: { namespace: cfg.namespace, jobId: "" },
      dependsOn: [buildNs],
    });

    // nomad_auth = "variable": the server's ACL token, made here so that it can be written next
    // to the client list (the Variable is one resource: the stack owns all of its items). Its
    // secret is in the Terraform state, as any token the state manages; never in the synth output.
    const token =
      cfg.nomadAuth === "variable"
        ? new AclToken(this, "server_token", { name: cfg.aclPolicyName, type: "client", policies: [policy.name] })
        : undefined;

    // The job's own Variable, which its tasks read without any policy: the client list (hashes
    // only) and, in token mode, the token. The job's template waits for it, so without it the
    // deployment never becomes healthy.
    const serverVariable = new Variable(this, "server_variable", {
      namespace: cfg.serverNamespace,
      path: `nomad/jobs/${cfg.serverJobId}`,
      items: { clients: JSON.stringify({ clients: cfg.clients }), ...(token ? { nomad_token: token.secretId } : {}) },
      ...(serverNs ? { dependsOn: [serverNs] } : {}),
    });

    const job = new Job(this, "server_job", {
      jobspec: terraformEscape(readFileSync(SERVER_JOBSPEC_PATH, "utf8")),
      hcl2: { vars: Object.fromEntries(Object.entries(serverJobVars(cfg)).map(([k, v]) => [k, terraformEscape(v)])) },
      // Wait for the deployment so a bad image fails `cdktf deploy` (auto_revert undoes it).
      detach: false,
      dependsOn: [policy, buildNs, serverVariable, ...(serverNs ? [serverNs] : [])],
    });

    new TerraformOutput(this, "server_job_id", { value: job.id });
    new TerraformOutput(this, "server_acl_policy_name", { value: cfg.aclPolicyName });
    new TerraformOutput(this, "gpu_node_pool_name", { value: gpuPool.name });
    // One policy and one role per client, by name: infra/main.ts writes the same as files.
    new TerraformOutput(this, "vault_policies_hcl", {
      value: Object.fromEntries(cfg.vault.clients.map((c) => [vaultName(cfg, c), vaultPolicyHcl(cfg, c)])),
      description: "for each NAME: vault policy write NAME infra/vault/NAME.hcl",
    });
    new TerraformOutput(this, "vault_roles_json", {
      value: Object.fromEntries(cfg.vault.clients.map((c) => [vaultName(cfg, c), JSON.stringify(vaultRole(cfg, c))])),
      description: `for each NAME: vault write auth/${cfg.vault.authPath}/role/NAME @infra/vault/NAME-role.json`,
    });
  }
}
