package main

import (
	"net/http"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// newEval records an evaluation for a job change, pending until the
// scheduler (synchronous here) finishes it. Call with the lock held.
func (s *Server) newEval(j *api.Job, triggeredBy string, idx uint64) *api.Evaluation {
	t := now()
	e := &api.Evaluation{
		ID: newUUID(), Priority: deref(j.Priority), Type: deref(j.Type), TriggeredBy: triggeredBy,
		Namespace: "default", JobID: *j.ID, JobModifyIndex: deref(j.JobModifyIndex), Status: "pending",
		SnapshotIndex: idx, CreateIndex: idx, ModifyIndex: idx, CreateTime: t, ModifyTime: t,
	}
	s.st.Evals[e.ID] = e
	return e
}

// finishEval completes an evaluation; with failures it also creates the
// blocked evaluation that waits for capacity, as Nomad's scheduler does.
func (s *Server) finishEval(e *api.Evaluation, failed map[string]*api.AllocationMetric) {
	idx := s.st.bump()
	e.Status, e.ModifyIndex, e.ModifyTime = "complete", idx, now()
	if len(failed) == 0 {
		return
	}
	e.FailedTGAllocs = failed
	queued := map[string]int{}
	for name, m := range failed {
		queued[name] = 1 + m.CoalescedFailures
	}
	b := &api.Evaluation{
		ID: newUUID(), Priority: e.Priority, Type: e.Type, TriggeredBy: "queued-allocs", Namespace: "default",
		JobID: e.JobID, JobModifyIndex: e.JobModifyIndex, Status: "blocked",
		StatusDescription: "created to place remaining allocations", PreviousEval: e.ID,
		FailedTGAllocs: failed, ClassEligibility: map[string]bool{"v1:" + s.nodes[0].node.ID[:8]: false},
		QueuedAllocations: queued, SnapshotIndex: e.SnapshotIndex,
		CreateIndex: idx, ModifyIndex: idx, CreateTime: e.ModifyTime, ModifyTime: e.ModifyTime,
	}
	s.st.Evals[b.ID] = b
	e.BlockedEval = b.ID
	e.QueuedAllocations = queued
}

func (s *Server) sortedEvals(keep func(*api.Evaluation) bool) []*api.Evaluation {
	return newestFirst(s.st.Evals, keep, func(e *api.Evaluation) (uint64, string) { return e.CreateIndex, e.ID })
}

func (s *Server) listEvals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix, job, status := q.Get("prefix"), q.Get("job"), q.Get("status")
	s.blocking(w, r, func() (uint64, int, any, string) {
		evals := s.sortedEvals(func(e *api.Evaluation) bool {
			return strings.HasPrefix(e.ID, prefix) && (job == "" || e.JobID == job) && (status == "" || e.Status == status)
		})
		return listAnswer(evals, evalIndex, asIs, s.st.Index)
	})
}

func (s *Server) getEval(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		e := s.st.Evals[id]
		if e == nil {
			return s.st.Index, 404, nil, "eval not found"
		}
		return e.ModifyIndex, 200, e, ""
	})
}

func (s *Server) evalAllocs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		out := []allocStubOut{}
		var idx uint64
		for _, a := range s.sortedAllocs(func(a *api.Allocation) bool { return a.EvalID == id }) {
			out = append(out, toStubOut(a))
			idx = max(idx, a.ModifyIndex)
		}
		if idx == 0 {
			idx = s.st.Index
		}
		return idx, 200, out, ""
	})
}
