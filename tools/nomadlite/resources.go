package main

import (
	"github.com/hashicorp/nomad/api"
)

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
func (cn *clientNode) capacity() (cpu, mem int) {
	n := cn.node
	return int(n.NodeResources.Cpu.CpuShares - int64(n.ReservedResources.Cpu.CpuShares)),
		int(n.NodeResources.Memory.MemoryMB - int64(n.ReservedResources.Memory.MemoryMB))
}

// usedResources: what live allocations hold on the node. Call with the lock held.
func (s *Server) usedResources(n *clientNode) (cpu, mem int) {
	for _, a := range s.st.Allocs {
		if allocTerminal(a) || s.nodeOf(a) != n {
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
