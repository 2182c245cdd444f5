// nomadcheck runs Nomad's own parsers (jobspec2, acl) on the files infra/ produces, so
// test/infra can check them without a Nomad binary. Used only by test/infra/*.test.ts.
//
//	nomadcheck jobspec FILE [name=value ...]   -> the parsed api.Job as JSON
//	nomadcheck policy FILE NS[,NS] VOL[,VOL] -> effective capabilities as JSON
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/nomad/acl"
	"github.com/hashicorp/nomad/jobspec2"
)

var nsCaps = []string{
	"deny", "parse-job", "list-jobs", "read-job", "submit-job", "dispatch-job", "read-logs", "read-fs",
	"alloc-lifecycle", "alloc-exec", "alloc-node-exec", "csi-read-volume", "csi-write-volume",
	"csi-list-volume", "csi-mount-volume", "csi-register-plugin", "list-scaling-policies",
	"read-scaling-policy", "read-job-scaling", "scale-job", "host-volume-create",
	"host-volume-register", "host-volume-write", "host-volume-read", "host-volume-delete",
	"sentinel-override", "submit-recommendation",
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ERROR:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: nomadcheck jobspec|policy FILE ..."))
	}
	src, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	var out any
	switch os.Args[1] {
	case "jobspec":
		job, err := jobspec2.ParseWithConfig(&jobspec2.ParseConfig{
			Path: os.Args[2], Body: src, ArgVars: os.Args[3:], Strict: true,
		})
		if err != nil {
			fail(err)
		}
		out = job
	case "policy":
		p, err := acl.Parse(string(src))
		if err != nil {
			fail(err)
		}
		a, err := acl.NewACL(false, []*acl.Policy{p})
		if err != nil {
			fail(err)
		}
		res := map[string]any{
			"nodeRead": a.AllowNodeRead(), "nodeWrite": a.AllowNodeWrite(),
			"agentRead": a.AllowAgentRead(), "agentWrite": a.AllowAgentWrite(),
			"operatorRead": a.AllowOperatorRead(), "operatorWrite": a.AllowOperatorWrite(),
			"quotaRead": a.AllowQuotaRead(), "pluginRead": a.AllowPluginRead(),
			"nodePoolRead": a.AllowNodePoolOperation("gpu", acl.NodePoolCapabilityRead),
		}
		namespaces := map[string][]string{}
		variables := map[string][]string{}
		for _, ns := range strings.Split(os.Args[3], ",") {
			namespaces[ns] = []string{}
			for _, c := range nsCaps {
				if a.AllowNsOp(ns, c) {
					namespaces[ns] = append(namespaces[ns], c)
				}
			}
			variables[ns] = []string{}
			for _, c := range []string{"list", "read", "write", "destroy"} {
				for _, path := range []string{"nbs/x", "nomad/jobs/x", "x"} {
					if a.AllowVariableOperation(ns, path, c, nil) {
						variables[ns] = append(variables[ns], c+":"+path)
					}
				}
			}
		}
		volumes := map[string][]string{}
		for _, v := range strings.Split(os.Args[4], ",") {
			volumes[v] = []string{}
			for _, c := range []string{"mount-readonly", "mount-readwrite"} {
				if a.AllowHostVolumeOperation(v, c) {
					volumes[v] = append(volumes[v], c)
				}
			}
		}
		res["namespaces"], res["variables"], res["hostVolumes"] = namespaces, variables, volumes
		out = res
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
}
