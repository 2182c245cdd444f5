package main

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/nomad/api"
)

func (s *Server) datacenterMatches(dcs []string) bool {
	for _, dc := range dcs {
		if ok, _ := path.Match(dc, datacenter); ok {
			return true
		}
	}
	return false
}

// infeasible returns the ConstraintFiltered key Nomad's feasibility checkers
// would report for this node, in their order (job constraints, drivers, group
// and task constraints, host volumes, devices), or "" if the group fits.
func (s *Server) infeasible(n *clientNode, j *api.Job, tg *api.TaskGroup) string {
	for _, c := range j.Constraints {
		if !s.checkConstraint(n, c) {
			return constraintString(c)
		}
	}
	for _, t := range tg.Tasks {
		if !s.driverUsable(n, t.Driver) {
			return "missing drivers"
		}
	}
	for _, c := range tg.Constraints {
		if !s.checkConstraint(n, c) {
			return constraintString(c)
		}
	}
	for _, t := range tg.Tasks {
		for _, c := range t.Constraints {
			if !s.checkConstraint(n, c) {
				return constraintString(c)
			}
		}
	}
	names := make([]string, 0, len(tg.Volumes))
	for name := range tg.Volumes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := tg.Volumes[name]
		if v == nil {
			continue
		}
		switch v.Type {
		case "", "host":
			if _, ok := n.hostVolumes[v.Source]; !ok {
				return "missing compatible host volumes"
			}
		case "csi":
			return "missing CSI Volume " + v.Source
		}
	}
	for _, t := range tg.Tasks {
		if t.Resources != nil && len(t.Resources.Devices) > 0 {
			return "missing devices"
		}
	}
	return ""
}

func constraintString(c *api.Constraint) string {
	return fmt.Sprintf("%s %s %s", c.LTarget, c.Operand, c.RTarget)
}

// resolveTarget turns a constraint target into a value using the node's
// attributes, meta and identity.
func (s *Server) resolveTarget(cn *clientNode, t string) (string, bool) {
	if !strings.HasPrefix(t, "${") || !strings.HasSuffix(t, "}") {
		return t, true
	}
	key := t[2 : len(t)-1]
	n := cn.node
	switch key {
	case "node.unique.id":
		return n.ID, true
	case "node.unique.name":
		return n.Name, true
	case "node.datacenter":
		return n.Datacenter, true
	case "node.class":
		return n.NodeClass, true
	case "node.pool":
		return n.NodePool, true
	case "node.region":
		return "global", true
	}
	if k, ok := strings.CutPrefix(key, "meta."); ok {
		v, ok := n.Meta[k]
		return v, ok
	}
	attr, ok := strings.CutPrefix(key, "attr.")
	if !ok && strings.HasPrefix(key, "driver.") {
		attr, ok = key, true
	}
	if !ok {
		return "", false
	}
	s.nodeMu.Lock()
	defer s.nodeMu.Unlock()
	v, ok := n.Attributes[attr]
	return v, ok
}

func (s *Server) checkConstraint(n *clientNode, c *api.Constraint) bool {
	l, lok := s.resolveTarget(n, c.LTarget)
	r, rok := s.resolveTarget(n, c.RTarget)
	switch c.Operand {
	case "", "=", "==", "is":
		return lok && rok && l == r
	case "!=", "not":
		return lok != rok || l != r
	case "is_set":
		return lok
	case "is_not_set":
		return !lok
	case "distinct_hosts", "distinct_property":
		return true // see README: allocations are not spread by constraint
	}
	if !lok || !rok {
		return false
	}
	switch c.Operand {
	case "<", "<=", ">", ">=":
		cmp := compareValues(l, r)
		switch c.Operand {
		case "<":
			return cmp < 0
		case "<=":
			return cmp <= 0
		case ">":
			return cmp > 0
		default:
			return cmp >= 0
		}
	case "regexp":
		re, err := compileRegexp(r)
		return err == nil && re.MatchString(l)
	case "version", "semver":
		return checkVersion(l, r)
	case "set_contains", "set_contains_all":
		have := splitSet(l)
		for _, want := range strings.Split(r, ",") {
			if !have[strings.TrimSpace(want)] {
				return false
			}
		}
		return true
	case "set_contains_any":
		have := splitSet(l)
		for _, want := range strings.Split(r, ",") {
			if have[strings.TrimSpace(want)] {
				return true
			}
		}
		return false
	}
	return false
}

func splitSet(v string) map[string]bool {
	m := map[string]bool{}
	for _, x := range strings.Split(v, ",") {
		m[strings.TrimSpace(x)] = true
	}
	return m
}

func compareValues(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

var reCache sync.Map

func compileRegexp(expr string) (*regexp.Regexp, error) {
	if re, ok := reCache.Load(expr); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(expr)
	if err == nil {
		reCache.Store(expr, re)
	}
	return re, err
}

// checkVersion handles constraints like ">= 1.2, < 2.0" with dotted numeric
// versions (pre-release and build suffixes are ignored).
func checkVersion(have, constraint string) bool {
	hv := parseVersion(have)
	if hv == nil {
		return false
	}
	for _, part := range strings.Split(constraint, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, cand := range []string{">=", "<=", "!=", "~>", ">", "<", "="} {
			if strings.HasPrefix(part, cand) {
				op, part = cand, strings.TrimSpace(part[len(cand):])
				break
			}
		}
		wv := parseVersion(part)
		if wv == nil {
			return false
		}
		c := compareVersions(hv, wv)
		ok := false
		switch op {
		case "=":
			ok = c == 0
		case "!=":
			ok = c != 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		case "~>":
			// Pessimistic: >= wv and below the next release of its second-to-last segment.
			upper := append([]int(nil), wv...)
			if len(upper) > 1 {
				upper = upper[:len(upper)-1]
			}
			upper[len(upper)-1]++
			ok = c >= 0 && compareVersions(hv, upper) < 0
		}
		if !ok {
			return false
		}
	}
	return true
}

func parseVersion(v string) []int {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	if v == "" {
		return nil
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

func compareVersions(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
