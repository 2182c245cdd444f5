// cdktf app: `cdktf synth` (or `bun infra/main.ts`) writes infra/cdktf.out without a
// Terraform binary. Config overrides: a JSON file named by NBS_INFRA_CONFIG (see config.ts).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { App } from "cdktf";
import { resolveConfig, vaultClientsOf, type InfraConfigInput } from "./config.ts";
import { vaultFiles } from "./policies.ts";
import { NbsStack } from "./stack.ts";

const file = process.env.NBS_INFRA_CONFIG;
const input: InfraConfigInput = file ? JSON.parse(readFileSync(file, "utf8")) : {};
// Like the nomad CLI: NOMAD_ADDR unless the config names an address.
if (!input.nomadAddress && process.env.NOMAD_ADDR) input.nomadAddress = process.env.NOMAD_ADDR;
// The server's clients file is where clients and their prefixes are kept; the config may list them instead.
const clientsFile = process.env.NBS_CLIENTS_FILE;
if (clientsFile && !input.clients) input.clients = JSON.parse(readFileSync(clientsFile, "utf8")).clients;
const resolved = resolveConfig(input);
// Each client's vault: prefixes make its Vault policy, unless the config lists the Vault clients itself.
const cfg = input.vault?.clients ? resolved : resolveConfig({ ...input, vault: { ...input.vault, clients: vaultClientsOf(resolved) } });

// Vault is not managed here (no Vault provider installed): each client's policy and JWT role are
// written next to the stack for `vault policy write` / `vault write`, and also output.
const vaultDir = fileURLToPath(new URL("./vault/", import.meta.url));
mkdirSync(vaultDir, { recursive: true });
// The files of this run only: a client taken off the list must not leave a policy behind to apply.
for (const old of readdirSync(vaultDir)) if (old.endsWith(".hcl") || old.endsWith("-role.json")) rmSync(`${vaultDir}${old}`);
for (const [name, text] of Object.entries(vaultFiles(cfg))) writeFileSync(`${vaultDir}${name}`, text);

const app = new App({ outdir: fileURLToPath(new URL("./cdktf.out", import.meta.url)) });
new NbsStack(app, "nbs", cfg);
app.synth();
