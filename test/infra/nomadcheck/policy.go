package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// What a Nomad ACL policy grants, as Nomad's ACL policy specification for v1.10 documents it:
// https://developer.hashicorp.com/nomad/docs/v1.10.x/other-specifications/acl-policy
// The tables below are that page's, unchanged: the `policy` shorthands, and the capabilities
// each capability "implicitly grants". Capabilities are reported with what they imply, so an
// assertion over them is one over everything the token can do.

// Namespace capabilities, in the order they are reported.
var namespaceCapabilities = []string{
	"deny", "parse-job", "list-jobs", "read-job", "submit-job", "dispatch-job", "read-logs", "read-fs",
	"alloc-lifecycle", "alloc-exec", "alloc-node-exec", "csi-read-volume", "csi-write-volume",
	"csi-list-volume", "csi-mount-volume", "csi-register-plugin", "list-scaling-policies",
	"read-scaling-policy", "read-job-scaling", "scale-job", "host-volume-create",
	"host-volume-register", "host-volume-write", "host-volume-read", "host-volume-delete",
	"sentinel-override", "submit-recommendation",
}

type ruleKind struct {
	policies     map[string][]string // policy = "..." → capabilities
	capabilities []string            // valid capabilities, in report order
	implies      map[string][]string
}

var namespaceKind = ruleKind{
	policies: map[string][]string{
		"deny": {"deny"},
		"read": {"list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume", "host-volume-read",
			"list-scaling-policies", "read-scaling-policy", "read-job-scaling"},
		"write": {"list-jobs", "parse-job", "read-job", "submit-job", "dispatch-job", "read-logs", "read-fs",
			"alloc-exec", "alloc-lifecycle", "csi-write-volume", "csi-mount-volume", "host-volume-write",
			"list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job", "submit-recommendation"},
		"scale": {"list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job"},
	},
	capabilities: namespaceCapabilities,
	implies: map[string][]string{
		"list-jobs":            {"csi-list-volume"},
		"read-job":             {"csi-read-volume"},
		"read-fs":              {"read-logs"},
		"csi-write-volume":     {"csi-read-volume"},
		"csi-read-volume":      {"csi-list-volume"},
		"csi-mount-volume":     {"csi-read-volume"},
		"host-volume-create":   {"host-volume-read"},
		"host-volume-register": {"host-volume-read", "host-volume-create"},
		"host-volume-write":    {"host-volume-read", "host-volume-create", "host-volume-register", "host-volume-delete"},
	},
}

// Variables have no shorthand; "read" and "write" each include "list".
var variablesKind = ruleKind{
	capabilities: []string{"deny", "list", "read", "write", "destroy"},
	implies:      map[string][]string{"read": {"list"}, "write": {"list"}},
}

// "mount-readwrite: Allow the user to mount the volume as readonly or readwrite".
var hostVolumeKind = ruleKind{
	policies: map[string][]string{
		"deny": {"deny"}, "read": {"mount-readonly"}, "write": {"mount-readonly", "mount-readwrite"},
	},
	capabilities: []string{"deny", "mount-readonly", "mount-readwrite"},
	implies:      map[string][]string{"mount-readwrite": {"mount-readonly"}},
}

var nodePoolKind = ruleKind{
	policies:     map[string][]string{"deny": {"deny"}, "read": {"read"}, "write": {"delete", "read", "write"}},
	capabilities: []string{"deny", "read", "write", "delete"},
}

// node, agent, operator, quota and plugin rules take only a policy; plugin alone also has "list".
var coarsePolicies = map[string][]string{
	"node": {"deny", "read", "write"}, "agent": {"deny", "read", "write"}, "operator": {"deny", "read", "write"},
	"quota": {"deny", "read", "write"}, "plugin": {"deny", "list", "read", "write"},
}

var (
	capsSchema   = []hcl.AttributeSchema{{Name: "policy"}, {Name: "capabilities"}}
	policySchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "namespace", LabelNames: []string{"name"}},
		{Type: "node_pool", LabelNames: []string{"name"}},
		{Type: "host_volume", LabelNames: []string{"name"}},
		{Type: "node"}, {Type: "agent"}, {Type: "operator"}, {Type: "quota"}, {Type: "plugin"},
	}}
	namespaceSchema = &hcl.BodySchema{Attributes: capsSchema, Blocks: []hcl.BlockHeaderSchema{{Type: "variables"}}}
	rulesSchema     = &hcl.BodySchema{Attributes: capsSchema}
	variablesSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "path", LabelNames: []string{"path"}}}}
	pathSchema      = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "capabilities", Required: true}}}
	coarseSchema    = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "policy", Required: true}}}
)

// rules maps each label of one rule type (a namespace, a glob of them, a variables path...)
// to the capabilities granted there.
type rules map[string]map[string]bool

// lookup finds the rule for name the way Nomad does: an exact label first, else the glob
// label with the most matched characters. A rule holding deny grants nothing else.
func (r rules) lookup(name string) (string, map[string]bool) {
	label, caps := name, r[name]
	if caps == nil {
		best := -1
		for _, l := range sortedKeys(r) {
			matched := len(l) - strings.Count(l, "*")
			if strings.Contains(l, "*") && globMatch(l, name) && matched > best {
				label, caps, best = l, r[l], matched
			}
		}
	}
	if caps["deny"] {
		return label, map[string]bool{"deny": true}
	}
	return label, caps
}

func (r rules) report(name string, kind ruleKind) []string {
	_, caps := r.lookup(name)
	out := []string{}
	for _, c := range kind.capabilities {
		if caps[c] {
			out = append(out, c)
		}
	}
	return out
}

// globMatch: "*" matches any run of characters, the empty one too; all else matches itself.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

type policy struct {
	namespaces, nodePools, hostVolumes rules
	variables                          map[string]rules // by namespace label
	coarse                             map[string]string
}

type policyDecoder struct{ diags hcl.Diagnostics }

func (p *policyDecoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr(),
	})
}

// parsePolicy reads an ACL policy, HCL or JSON. Anything the specification does not define
// is an error, where Nomad would ignore it: a misspelt rule must fail the check.
func parsePolicy(file *hcl.File) (*policy, hcl.Diagnostics) {
	p := &policyDecoder{}
	pol := &policy{namespaces: rules{}, nodePools: rules{}, hostVolumes: rules{}, variables: map[string]rules{}, coarse: map[string]string{}}
	content, diags := file.Body.Content(policySchema)
	p.diags = append(p.diags, diags...)
	for _, b := range content.Blocks {
		switch b.Type {
		case "namespace":
			c, diags := b.Body.Content(namespaceSchema)
			p.diags = append(p.diags, diags...)
			p.grant(pol.namespaces, b.Labels[0], c, namespaceKind)
			if len(c.Blocks) > 1 {
				p.errorf(c.Blocks[1].DefRange, "Duplicate variables block", "A namespace rule has at most one variables block.")
			}
			for _, vb := range c.Blocks {
				p.variables(pol, b.Labels[0], vb)
			}
		case "node_pool", "host_volume":
			c, diags := b.Body.Content(rulesSchema)
			p.diags = append(p.diags, diags...)
			r, kind := pol.nodePools, nodePoolKind
			if b.Type == "host_volume" {
				r, kind = pol.hostVolumes, hostVolumeKind
			}
			p.grant(r, b.Labels[0], c, kind)
		default:
			c, diags := b.Body.Content(coarseSchema)
			p.diags = append(p.diags, diags...)
			if _, dup := pol.coarse[b.Type]; dup {
				p.errorf(b.DefRange, "Duplicate "+b.Type+" rule", "A policy has at most one %s rule.", b.Type)
			}
			if a, ok := c.Attributes["policy"]; ok {
				v := p.str(a)
				if !slices.Contains(coarsePolicies[b.Type], v) {
					p.errorf(a.Expr.Range(), "Invalid policy", "%q is not a %s policy (%s).", v, b.Type, strings.Join(coarsePolicies[b.Type], ", "))
				}
				pol.coarse[b.Type] = v
			}
		}
	}
	return pol, p.diags
}

// grant adds a rule's policy and capabilities, with all they imply, to r[label]; rules with
// the same label add up.
func (p *policyDecoder) grant(r rules, label string, c *hcl.BodyContent, kind ruleKind) {
	if r[label] == nil {
		r[label] = map[string]bool{}
	}
	var caps []string
	if a, ok := c.Attributes["policy"]; ok {
		v := p.str(a)
		expanded, valid := kind.policies[v]
		if !valid {
			p.errorf(a.Expr.Range(), "Invalid policy", "%q is not a policy this rule takes.", v)
		}
		caps = append(caps, expanded...)
	}
	if a, ok := c.Attributes["capabilities"]; ok {
		listed := p.strs(a)
		for _, c := range listed {
			if !slices.Contains(kind.capabilities, c) {
				p.errorf(a.Expr.Range(), "Invalid capability", "%q is not a capability this rule takes.", c)
			}
		}
		caps = append(caps, listed...)
	}
	for len(caps) > 0 {
		c := caps[0]
		caps = caps[1:]
		if !r[label][c] {
			r[label][c] = true
			caps = append(caps, kind.implies[c]...)
		}
	}
}

func (p *policyDecoder) variables(pol *policy, namespace string, b *hcl.Block) {
	c, diags := b.Body.Content(variablesSchema)
	p.diags = append(p.diags, diags...)
	if len(c.Blocks) == 0 {
		p.errorf(b.DefRange, "Empty variables block", "A variables block holds at least one path block.")
	}
	if pol.variables[namespace] == nil {
		pol.variables[namespace] = rules{}
	}
	for _, pb := range c.Blocks {
		path := pb.Labels[0]
		if path == "" || strings.HasPrefix(path, "/") {
			p.errorf(pb.DefRange, "Invalid variable path", "%q: a path is not empty and does not start with a '/'.", path)
		}
		pc, diags := pb.Body.Content(pathSchema)
		p.diags = append(p.diags, diags...)
		p.grant(pol.variables[namespace], path, pc, variablesKind)
	}
}

func (p *policyDecoder) str(a *hcl.Attribute) string {
	v := p.value(a, cty.String)
	if v.IsNull() {
		return ""
	}
	return v.AsString()
}

func (p *policyDecoder) strs(a *hcl.Attribute) []string {
	v := p.value(a, cty.List(cty.String))
	var out []string
	if !v.IsNull() {
		for _, e := range v.AsValueSlice() {
			out = append(out, e.AsString())
		}
	}
	return out
}

func (p *policyDecoder) value(a *hcl.Attribute, t cty.Type) cty.Value {
	v, diags := a.Expr.Value(nil)
	p.diags = append(p.diags, diags...)
	if diags.HasErrors() {
		return cty.NullVal(t)
	}
	conv, err := convert.Convert(v, t)
	if err != nil || !conv.IsWhollyKnown() || conv.IsNull() {
		p.errorf(a.Expr.Range(), "Invalid value", "%s must be a %s.", a.Name, t.FriendlyName())
		return cty.NullVal(t)
	}
	return conv
}

// effective reports what the policy grants in the given namespaces (their capabilities and
// variables on a few representative paths) and on the given host volumes, plus the cluster-
// wide rules.
func (pol *policy) effective(namespaces, volumes []string) map[string]any {
	coarse := func(rule string, grants ...string) bool { return slices.Contains(grants, pol.coarse[rule]) }
	_, gpuPool := pol.nodePools.lookup("gpu")
	out := map[string]any{
		"nodeRead": coarse("node", "read", "write"), "nodeWrite": coarse("node", "write"),
		"agentRead": coarse("agent", "read", "write"), "agentWrite": coarse("agent", "write"),
		"operatorRead": coarse("operator", "read", "write"), "operatorWrite": coarse("operator", "write"),
		"quotaRead": coarse("quota", "read", "write"), "pluginRead": coarse("plugin", "read", "write"),
		"nodePoolRead": gpuPool["read"],
	}
	nsCaps, vars, vols := map[string][]string{}, map[string][]string{}, map[string][]string{}
	for _, ns := range namespaces {
		nsCaps[ns] = pol.namespaces.report(ns, namespaceKind)
		vars[ns] = []string{}
		label, caps := pol.namespaces.lookup(ns)
		if caps["deny"] {
			continue
		}
		for _, op := range []string{"list", "read", "write", "destroy"} {
			for _, path := range []string{"nbs/x", "nbs-records/x", "nbs-sources/x", "nomad/jobs/x", "x"} {
				if _, pathCaps := pol.variables[label].lookup(path); pathCaps[op] {
					vars[ns] = append(vars[ns], op+":"+path)
				}
			}
		}
	}
	for _, v := range volumes {
		vols[v] = pol.hostVolumes.report(v, hostVolumeKind)
	}
	out["namespaces"], out["variables"], out["hostVolumes"] = nsCaps, vars, vols
	return out
}
