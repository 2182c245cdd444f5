package main

import (
	"fmt"
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
