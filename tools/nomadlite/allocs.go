package main

import (
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// taskStateOut writes a TaskState as Nomad's server does: unset times are
// null, not Go's zero time (the recordings show "StartedAt": null for a task
// that never ran). The outer fields shadow the embedded api ones.
type taskStateOut struct {
	*api.TaskState
	LastRestart *time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	Paused      string // Nomad's pause state ("" when not paused); api.TaskState lacks it
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toTaskStatesOut(m map[string]*api.TaskState) map[string]taskStateOut {
	if m == nil {
		return nil
	}
	out := make(map[string]taskStateOut, len(m))
	for k, ts := range m {
		out[k] = taskStateOut{ts, timeOrNil(ts.LastRestart), timeOrNil(ts.StartedAt), timeOrNil(ts.FinishedAt), ""}
	}
	return out
}

// allocOut adds what Nomad's server sends and api.Allocation lacks
// (SharedResources: the group's ephemeral disk; SigningKeyID of the
// workload identity, empty here: nomadlite signs no identities; each task's
// lifecycle, which decides how its resources count: see groupNeed).
type allocOut struct {
	*api.Allocation
	Job                *jobOut
	TaskStates         map[string]taskStateOut
	SharedResources    *api.Resources
	SigningKeyID       string
	AllocatedResources *allocatedResourcesOut
	AllocStates        []allocState `json:",omitempty"`
}

type allocatedResourcesOut struct {
	*api.AllocatedResources
	TaskLifecycles map[string]*api.TaskLifecycle
}

func toAllocOut(a *api.Allocation, states []allocState) allocOut {
	disk := 0
	if a.AllocatedResources != nil {
		disk = int(a.AllocatedResources.Shared.DiskMB)
	}
	shared := &api.Resources{CPU: new(0), Cores: new(0), MemoryMB: new(0), MemoryMaxMB: new(0), DiskMB: new(disk), IOPS: new(0), SecretsMB: new(0)}
	var allocated *allocatedResourcesOut
	if a.AllocatedResources != nil {
		allocated = &allocatedResourcesOut{a.AllocatedResources, map[string]*api.TaskLifecycle{}}
		if tg := allocGroup(a); tg != nil {
			for _, t := range tg.Tasks {
				allocated.TaskLifecycles[t.Name] = t.Lifecycle
			}
		}
	}
	return allocOut{a, toJobOut(a.Job), toTaskStatesOut(a.TaskStates), shared, "", allocated, states}
}

type allocStubOut struct {
	*api.AllocationListStub
	TaskStates map[string]taskStateOut
}

func toStubOut(a *api.Allocation) allocStubOut {
	var ver uint64
	if a.Job != nil {
		ver = deref(a.Job.Version)
	}
	stub := &api.AllocationListStub{
		ID: a.ID, EvalID: a.EvalID, Name: a.Name, Namespace: a.Namespace, NodeID: a.NodeID, NodeName: a.NodeName,
		JobID: a.JobID, JobType: "batch", JobVersion: ver, TaskGroup: a.TaskGroup,
		DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription, ClientStatus: a.ClientStatus,
		ClientDescription: a.ClientDescription, FollowupEvalID: a.FollowupEvalID, NextAllocation: a.NextAllocation,
		PreemptedAllocations: a.PreemptedAllocations, CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex,
		CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
	}
	if a.Job != nil {
		stub.JobType = deref(a.Job.Type)
	}
	return allocStubOut{stub, toTaskStatesOut(a.TaskStates)}
}

// sortedAllocs lists allocations newest first, as Nomad's list endpoints do
// for a job. Call with the lock held.
func (s *Server) sortedAllocs(keep func(*api.Allocation) bool) []*api.Allocation {
	return newestFirst(s.st.Allocs, keep, func(a *api.Allocation) (uint64, string) { return a.CreateIndex, a.ID })
}

func (s *Server) listAllocs(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("prefix")
	s.blocking(w, r, func() (uint64, int, any, string) {
		allocs := s.sortedAllocs(func(a *api.Allocation) bool { return strings.HasPrefix(a.ID, prefix) })
		return listAnswer(allocs, allocIndex, toStubOut, s.st.Index)
	})
}

func (s *Server) getAlloc(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		a := s.findAlloc(id)
		if a == nil {
			return s.st.Index, 404, nil, "alloc not found"
		}
		return a.ModifyIndex, 200, toAllocOut(a, s.st.AllocStates[a.ID]), ""
	})
}

// findAlloc accepts a full ID or (like the CLI helpers) a unique prefix of
// at least 8 characters. Call with the lock held.
func (s *Server) findAlloc(id string) *api.Allocation {
	if a := s.st.Allocs[id]; a != nil {
		return a
	}
	return nil
}

func (s *Server) stopAlloc(w http.ResponseWriter, r *http.Request) {
	resp, err := s.stopAllocation(r.PathValue("id"))
	writeAnswer(w, resp, err)
}
