package main

import (
	"slices"
	"sort"

	"github.com/hashicorp/nomad/api"
)

// retryBlocked re-runs blocked evaluations that failed for lack of CPU or
// memory once capacity frees up, as Nomad's blocked-evals tracker does: a
// queue served by priority, then oldest first, where a smaller group further
// back still takes capacity a larger one ahead cannot use. Constraint
// failures are retried only when the node changed (nodeChanged: a driver
// turned healthy), as Nomad unblocks them on a node update.
func (s *Server) retryBlocked(nodeChanged bool) {
	var started []*api.Allocation
	s.st.locked(func() {
		blocked := s.sortedEvals(func(e *api.Evaluation) bool { return e.Status == "blocked" })
		slices.Reverse(blocked)
		sort.SliceStable(blocked, func(i, j int) bool { return blocked[i].Priority > blocked[j].Priority })
		for _, e := range blocked {
			j := s.st.Jobs[e.JobID]
			if j == nil || deref(j.Stop) {
				continue
			}
			retry := true
			for _, m := range e.FailedTGAllocs {
				if len(m.ConstraintFiltered) > 0 && !nodeChanged || m.NodesEvaluated == 0 {
					retry = false
				}
			}
			if !retry {
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
				p, m := s.placeGroup(j, tg, want, placement{evalID: e.ID})
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
	})
	if len(started) > 0 {
		logf("placed %d alloc(s) from blocked evaluations", len(started))
	}
	s.startRunners(started)
}

// cancelBlocked cancels a job's blocked evaluations (job stopped or replaced).
func (s *Server) cancelBlocked(jobID string) {
	for _, e := range s.st.Evals {
		if e.JobID == jobID && e.Status == "blocked" {
			e.Status, e.StatusDescription = "canceled", "evaluation canceled: job was updated or stopped"
			e.ModifyIndex, e.ModifyTime = s.st.bump(), now()
		}
	}
}
