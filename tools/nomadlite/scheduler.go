package main

import (
	"fmt"
	"time"

	"github.com/hashicorp/nomad/api"
)

// schedule places every group's Count allocations, or records why it could
// not (FailedTGAllocs + a blocked evaluation), like Nomad's batch scheduler. Call with the lock held; returns the new allocs,
// whose runners the caller starts after unlocking.
func (s *Server) schedule(j *api.Job, e *api.Evaluation, _ bool) []*api.Allocation {
	var placed []*api.Allocation
	failed := map[string]*api.AllocationMetric{}
	desired := map[string]int{}
	for _, tg := range j.TaskGroups {
		n := deref(tg.Count)
		desired[deref(tg.Name)] = n
		p, m := s.placeGroup(j, tg, n, placement{evalID: e.ID})
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

// placement is what placeGroup needs besides the job and group: the
// evaluation that places, and for a replacement the allocation it replaces.
type placement struct {
	evalID   string
	previous *api.Allocation
}

// placeGroup places up to n allocations of one group, each on the best
// scoring node that can hold it (see rank.go). The returned metric is nil
// when all n were placed.
func (s *Server) placeGroup(j *api.Job, tg *api.TaskGroup, n int, p placement) ([]*api.Allocation, *api.AllocationMetric) {
	start := time.Now()
	if n == 0 {
		return nil, nil
	}
	var placed []*api.Allocation
	var failed *api.AllocationMetric
	for i := 0; i < n; i++ {
		node, m := s.selectNode(j, tg)
		if node == nil {
			if failed == nil {
				failed = m
			} else {
				failed.CoalescedFailures++
			}
			continue
		}
		m.AllocationTime = time.Since(start)
		a := s.newAlloc(node, j, tg, p, m)
		s.st.Allocs[a.ID] = a
		placed = append(placed, a)
	}
	if failed != nil {
		failed.AllocationTime = time.Since(start)
	}
	return placed, failed
}

// newAlloc builds an allocation the way Nomad's plan applier records it:
// the job snapshot, per-task and total resources, the placement metric.
func (s *Server) newAlloc(node *clientNode, j *api.Job, tg *api.TaskGroup, p placement, metric *api.AllocationMetric) *api.Allocation {
	idx := s.st.bump()
	group := deref(tg.Name)
	n := 0
	for _, a := range s.st.Allocs {
		if a.JobID == *j.ID && a.TaskGroup == group && a.Job != nil && deref(a.Job.Version) == deref(j.Version) {
			n++
		}
	}
	name := fmt.Sprintf("%s.%s[%d]", *j.ID, group, n)
	previous := ""
	if p.previous != nil {
		// A replacement takes the place, hence the name, of what it replaces.
		name, previous = p.previous.Name, p.previous.ID
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
		ID: newUUID(), Namespace: "default", EvalID: p.evalID, Name: name, PreviousAllocation: previous,
		NodeID: node.node.ID, NodeName: node.node.Name, JobID: *j.ID, Job: deepCopy(j), TaskGroup: group,
		Resources: total, TaskResources: taskRes, AllocatedResources: allocated, Metrics: metric,
		DesiredStatus: "run", ClientStatus: "pending", ClientDescription: "No tasks have started",
		NetworkStatus: &api.AllocNetworkStatus{},
		CreateIndex:   idx, ModifyIndex: idx, AllocModifyIndex: idx, CreateTime: t, ModifyTime: t,
	}
}
