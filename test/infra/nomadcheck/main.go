// nomadcheck reads the Nomad files infra/ produces the way Nomad reads them, with MPL code
// only (hcl/v2 and Nomad's api package; the rest of Nomad is BUSL), so test/infra can check
// them without a Nomad binary. Used only by the tests.
//
//	nomadcheck jobspec FILE [name=value ...]   -> the job as api.Job JSON, for PUT /v1/validate/job
//	nomadcheck policy FILE NS[,NS] VOL[,VOL] -> what the ACL policy grants, as JSON
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

func main() {
	if len(os.Args) < 3 || os.Args[1] == "policy" && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: nomadcheck jobspec FILE [name=value ...] | policy FILE NS[,NS] VOL[,VOL]")
		os.Exit(2)
	}
	src, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
	parser := hclparse.NewParser()
	var out any
	var diags hcl.Diagnostics
	switch os.Args[1] {
	case "jobspec":
		file, parseDiags := parser.ParseHCL(src, os.Args[2])
		diags = parseDiags
		if !diags.HasErrors() {
			out, diags = parseJobspec(file, os.Args[3:])
		}
	case "policy":
		// Nomad takes policy rules as HCL or JSON; HCL cannot start with "{".
		parse := parser.ParseHCL
		if strings.HasPrefix(strings.TrimSpace(string(src)), "{") {
			parse = parser.ParseJSON
		}
		file, parseDiags := parse(src, os.Args[2])
		diags = parseDiags
		if !diags.HasErrors() {
			var pol *policy
			pol, diags = parsePolicy(file)
			out = pol.effective(strings.Split(os.Args[3], ","), strings.Split(os.Args[4], ","))
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if len(diags) > 0 {
		_ = hcl.NewDiagnosticTextWriter(os.Stderr, parser.Files(), 100, false).WriteDiagnostics(diags)
	}
	if diags.HasErrors() {
		os.Exit(1)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
}
