// cdktf app: `cdktf synth` (or `bun infra/main.ts`) writes infra/cdktf.out without a
// Terraform binary. Config overrides: a JSON file named by NBS_INFRA_CONFIG (see config.ts).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { App } from "cdktf";
import { resolveConfig, type InfraConfigInput } from "./config.ts";
import { vaultPolicyHcl, vaultRole } from "./policies.ts";
import { NbsStack } from "./stack.ts";

const file = process.env.NBS_INFRA_CONFIG;
const input: InfraConfigInput = file ? JSON.parse(readFileSync(file, "utf8")) : {};
// Like the nomad CLI: NOMAD_ADDR unless the config names an address.
if (!input.nomadAddress && process.env.NOMAD_ADDR) input.nomadAddress = process.env.NOMAD_ADDR;
const cfg = resolveConfig(input);

// Vault is not managed here (no Vault provider installed): the policy and the JWT role are
// written next to the stack for `vault policy write` / `vault write`, and also output.
const vaultDir = fileURLToPath(new URL("./vault/", import.meta.url));
writeFileSync(`${vaultDir}${cfg.vault.policyName}.hcl`, vaultPolicyHcl(cfg));
writeFileSync(`${vaultDir}${cfg.vault.role}-role.json`, JSON.stringify(vaultRole(cfg), null, 2) + "\n");

const app = new App({ outdir: fileURLToPath(new URL("./cdktf.out", import.meta.url)) });
new NbsStack(app, "nbs", cfg);
app.synth();
