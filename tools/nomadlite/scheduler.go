package main

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// schedule places every group's Count allocations on this node, or records
// why it could not (FailedTGAllocs + a blocked evaluation), like Nomad's batch
// scheduler with one node. Call with the lock held; returns the new allocs,
// whose runners the caller starts after unlocking.
func (s *Server) schedule(j *api.Job, e *api.Evaluation, _ bool) []*api.Allocation {
	var placed []*api.Allocation
	failed := map[string]*api.AllocationMetric{}
	desired := map[string]int{}
	for _, tg := range j.TaskGroups {
		n := deref(tg.Count)
		desired[deref(tg.Name)] = n
		p, m := s.placeGroup(j, tg, n, e.ID)
		placed = append(placed, p...)
		if m != nil {
			failed[deref(tg.Name)] = m
		}
	}
	e.PlanAnnotations = planAnnotations(desired)
	s.finishEval(e, failed)
	return placed
}

func planAnnotations(place map[string]int) *api.PlanAnnotations {
	pa := &api.PlanAnnotations{DesiredTGUpdates: map[string]*api.DesiredUpdates{}}
	for name, n := range place {
		pa.DesiredTGUpdates[name] = &api.DesiredUpdates{Place: uint64(n)}
	}
	return pa
}

// placeGroup places up to n allocations of one group. The returned metric is
// nil when all n were placed.
func (s *Server) placeGroup(j *api.Job, tg *api.TaskGroup, n int, evalID string) ([]*api.Allocation, *api.AllocationMetric) {
	start := time.Now()
	if n == 0 {
		return nil, nil
	}
	metric := func() *api.AllocationMetric {
		return &api.AllocationMetric{NodesEvaluated: 1, NodesInPool: 1, NodePool: "default",
			NodesAvailable: map[string]int{datacenter: 1}}
	}
	if !s.datacenterMatches(j.Datacenters) {
		m := metric()
		m.NodesEvaluated, m.NodesAvailable = 0, map[string]int{}
		m.CoalescedFailures = n - 1
		m.AllocationTime = time.Since(start)
		return nil, m
	}
	if key := s.infeasible(j, tg); key != "" {
		m := metric()
		m.NodesFiltered = 1
		m.ConstraintFiltered = map[string]int{key: 1}
		m.CoalescedFailures = n - 1
		m.AllocationTime = time.Since(start)
		return nil, m
	}
	needCPU, needMem := groupNeed(tg)
	capCPU, capMem := s.capacity()
	var placed []*api.Allocation
	var m *api.AllocationMetric
	for i := 0; i < n; i++ {
		usedCPU, usedMem := s.usedResources()
		dim := ""
		if usedCPU+needCPU > capCPU {
			dim = "cpu"
		} else if usedMem+needMem > capMem {
			dim = "memory"
		}
		if dim != "" {
			if m == nil {
				m = metric()
				m.NodesExhausted = 1
				m.DimensionExhausted = map[string]int{dim: 1}
				m.ResourcesExhausted = exhaustedResources(tg, dim)
			} else {
				m.CoalescedFailures++
			}
			continue
		}
		a := s.newAlloc(j, tg, evalID, time.Since(start))
		s.st.Allocs[a.ID] = a
		placed = append(placed, a)
	}
	if m != nil {
		m.AllocationTime = time.Since(start)
	}
	return placed, m
}

// exhaustedResources is Nomad's AllocMetric.ExhaustResources: every task of
// the group with the exhausted dimension filled in, the rest zero.
func exhaustedResources(tg *api.TaskGroup, dim string) map[string]*api.Resources {
	out := map[string]*api.Resources{}
	for _, t := range tg.Tasks {
		r := &api.Resources{CPU: new(0), Cores: new(0), MemoryMB: new(0), MemoryMaxMB: new(0), DiskMB: new(0), IOPS: new(0), SecretsMB: new(0)}
		cpu, mem := taskResources(t)
		if dim == "memory" {
			r.MemoryMB = new(mem)
		} else {
			r.CPU = new(cpu)
		}
		out[t.Name] = r
	}
	return out
}

func taskResources(t *api.Task) (cpu, mem int) {
	if t.Resources == nil {
		return 100, 300
	}
	return deref(t.Resources.CPU), deref(t.Resources.MemoryMB)
}

// groupNeed is what one allocation of the group holds on the node, computed
// as Nomad's AllocatedResources.Comparable does: prestart sidecars run
// throughout, while the other prestart tasks, the main tasks and the poststop
// tasks never run at once, so only the largest of those phases counts, per
// dimension (scenario busy-node). Poststart tasks are left out, as Nomad 2.0
// leaves them out.
func groupNeed(tg *api.TaskGroup) (cpu, mem int) {
	var sideCPU, sideMem, preCPU, preMem, mainCPU, mainMem, postCPU, postMem int
	for _, t := range tg.Tasks {
		c, m := taskResources(t)
		switch hook(t) {
		case "sidecar":
			sideCPU, sideMem = sideCPU+c, sideMem+m
		case "prestart":
			preCPU, preMem = preCPU+c, preMem+m
		case "poststop":
			postCPU, postMem = postCPU+c, postMem+m
		case "":
			mainCPU, mainMem = mainCPU+c, mainMem+m
		}
	}
	return sideCPU + max(preCPU, mainCPU, postCPU), sideMem + max(preMem, mainMem, postMem)
}

// capacity is what the node offers allocations: its resources less what it
// reserves for itself.
func (s *Server) capacity() (cpu, mem int) {
	n := s.node
	return int(n.NodeResources.Cpu.CpuShares - int64(n.ReservedResources.Cpu.CpuShares)),
		int(n.NodeResources.Memory.MemoryMB - int64(n.ReservedResources.Memory.MemoryMB))
}

// usedResources: what live allocations hold. Call with the lock held.
func (s *Server) usedResources() (cpu, mem int) {
	for _, a := range s.st.Allocs {
		if allocTerminal(a) {
			continue
		}
		if tg := allocGroup(a); tg != nil {
			c, m := groupNeed(tg)
			cpu, mem = cpu+c, mem+m
		}
	}
	return
}

// allocGroup is the allocation's group in the job version it was placed for.
func allocGroup(a *api.Allocation) *api.TaskGroup {
	if a.Job == nil {
		return nil
	}
	for _, tg := range a.Job.TaskGroups {
		if deref(tg.Name) == a.TaskGroup {
			return tg
		}
	}
	return nil
}

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
func (s *Server) infeasible(j *api.Job, tg *api.TaskGroup) string {
	for _, c := range j.Constraints {
		if !s.checkConstraint(c) {
			return constraintString(c)
		}
	}
	for _, t := range tg.Tasks {
		if t.Driver != "raw_exec" {
			return "missing drivers"
		}
	}
	for _, c := range tg.Constraints {
		if !s.checkConstraint(c) {
			return constraintString(c)
		}
	}
	for _, t := range tg.Tasks {
		for _, c := range t.Constraints {
			if !s.checkConstraint(c) {
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
			if _, ok := s.cfg.HostVolumes[v.Source]; !ok {
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
func (s *Server) resolveTarget(t string) (string, bool) {
	if !strings.HasPrefix(t, "${") || !strings.HasSuffix(t, "}") {
		return t, true
	}
	key := t[2 : len(t)-1]
	n := s.node
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
	if k, ok := strings.CutPrefix(key, "attr."); ok {
		v, ok := n.Attributes[k]
		return v, ok
	}
	if k, ok := strings.CutPrefix(key, "meta."); ok {
		v, ok := n.Meta[k]
		return v, ok
	}
	if k, ok := strings.CutPrefix(key, "driver."); ok {
		v, ok := n.Attributes["driver."+k]
		return v, ok
	}
	return "", false
}

func (s *Server) checkConstraint(c *api.Constraint) bool {
	l, lok := s.resolveTarget(c.LTarget)
	r, rok := s.resolveTarget(c.RTarget)
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
		return true // one node: nothing to spread over
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

// newAlloc builds an allocation the way Nomad's plan applier records it:
// the job snapshot, per-task and total resources, the placement metric.
func (s *Server) newAlloc(j *api.Job, tg *api.TaskGroup, evalID string, took time.Duration) *api.Allocation {
	idx := s.st.bump()
	group := deref(tg.Name)
	n := 0
	for _, a := range s.st.Allocs {
		if a.JobID == *j.ID && a.TaskGroup == group && a.Job != nil && deref(a.Job.Version) == deref(j.Version) {
			n++
		}
	}
	disk := 0
	if tg.EphemeralDisk != nil {
		disk = deref(tg.EphemeralDisk.SizeMB)
	}
	zero := func() *api.Resources {
		return &api.Resources{CPU: new(0), Cores: new(0), MemoryMB: new(0), MemoryMaxMB: new(0), DiskMB: new(0), IOPS: new(0), SecretsMB: new(0)}
	}
	total := zero()
	total.DiskMB = new(disk)
	taskRes := map[string]*api.Resources{}
	allocated := &api.AllocatedResources{Tasks: map[string]*api.AllocatedTaskResources{}, Shared: api.AllocatedSharedResources{DiskMB: int64(disk)}}
	for _, t := range tg.Tasks {
		cpu, mem := taskResources(t)
		memMax := 0
		if t.Resources != nil {
			memMax = deref(t.Resources.MemoryMaxMB)
		}
		r := zero()
		r.CPU, r.MemoryMB, r.MemoryMaxMB = new(cpu), new(mem), new(memMax)
		taskRes[t.Name] = r
		total.CPU = new(*total.CPU + cpu)
		total.MemoryMB = new(*total.MemoryMB + mem)
		total.MemoryMaxMB = new(*total.MemoryMaxMB + max(mem, memMax))
		allocated.Tasks[t.Name] = &api.AllocatedTaskResources{Cpu: api.AllocatedCpuResources{CpuShares: int64(cpu)},
			Memory: api.AllocatedMemoryResources{MemoryMB: int64(mem), MemoryMaxMB: int64(memMax)}}
	}
	t := now()
	return &api.Allocation{
		ID: newUUID(), Namespace: "default", EvalID: evalID, Name: fmt.Sprintf("%s.%s[%d]", *j.ID, group, n),
		NodeID: s.node.ID, NodeName: s.node.Name, JobID: *j.ID, Job: deepCopy(j), TaskGroup: group,
		Resources: total, TaskResources: taskRes, AllocatedResources: allocated,
		Metrics: &api.AllocationMetric{NodesEvaluated: 1, NodesInPool: 1, NodePool: "default",
			NodesAvailable: map[string]int{datacenter: 1}, AllocationTime: took,
			ScoreMetaData: []*api.NodeScoreMeta{{NodeID: s.node.ID, Scores: map[string]float64{"binpack": 0, "job-anti-affinity": 0, "node-affinity": 0, "node-reschedule-penalty": 0}}}},
		DesiredStatus: "run", ClientStatus: "pending", ClientDescription: "No tasks have started",
		NetworkStatus: &api.AllocNetworkStatus{},
		CreateIndex:   idx, ModifyIndex: idx, AllocModifyIndex: idx, CreateTime: t, ModifyTime: t,
	}
}

// retryBlocked re-runs blocked evaluations that failed for lack of CPU or
// memory once capacity frees up, as Nomad's blocked-evals tracker does: a
// queue served by priority, then oldest first, where a smaller group further
// back still takes capacity a larger one ahead cannot use. Constraint
// failures stay blocked: nothing here changes the node.
func (s *Server) retryBlocked() {
	s.st.mu.Lock()
	var started []*api.Allocation
	blocked := s.sortedEvals(func(e *api.Evaluation) bool { return e.Status == "blocked" })
	slices.Reverse(blocked)
	sort.SliceStable(blocked, func(i, j int) bool { return blocked[i].Priority > blocked[j].Priority })
	for _, e := range blocked {
		j := s.st.Jobs[e.JobID]
		if j == nil || deref(j.Stop) {
			continue
		}
		resourceOnly := true
		for _, m := range e.FailedTGAllocs {
			if len(m.ConstraintFiltered) > 0 || m.NodesEvaluated == 0 {
				resourceOnly = false
			}
		}
		if !resourceOnly {
			continue
		}
		failed := map[string]*api.AllocationMetric{}
		queued := map[string]int{}
		for _, tg := range j.TaskGroups {
			name := deref(tg.Name)
			want := e.QueuedAllocations[name]
			if want == 0 {
				continue
			}
			p, m := s.placeGroup(j, tg, want, e.ID)
			started = append(started, p...)
			if m != nil {
				failed[name] = m
				queued[name] = want - len(p)
			}
		}
		idx := s.st.bump()
		e.ModifyIndex, e.ModifyTime = idx, now()
		if len(failed) == 0 {
			e.Status, e.StatusDescription, e.QueuedAllocations = "complete", "", map[string]int{}
		} else {
			e.FailedTGAllocs, e.QueuedAllocations = failed, queued
		}
		s.updateJobStatus(e.JobID)
	}
	s.st.mu.Unlock()
	if len(started) > 0 {
		logf("placed %d alloc(s) from blocked evaluations", len(started))
	}
	s.startRunners(started)
}
