package main

import (
	"encoding/json"
	"time"

	"github.com/hashicorp/nomad/api"
)

// canonicalize applies the defaults Nomad applies on register, so that a job
// read back looks like Nomad's: api.Job.Canonicalize plus what the server adds
// (node pool, workload identity, null instead of empty collections).
func canonicalize(j *api.Job) {
	if len(j.Datacenters) == 0 {
		j.Datacenters = []string{"*"}
	}
	j.Canonicalize()
	if deref(j.NodePool) == "" {
		j.NodePool = new("default")
	}
	if j.DispatchIdempotencyToken == nil {
		j.DispatchIdempotencyToken = new("")
	}
	if deref(j.Type) == "batch" || j.Update == nil {
		// Nomad keeps no update strategy for batch jobs: all fields zero.
		var d time.Duration
		j.Update = &api.UpdateStrategy{Stagger: new(d), MaxParallel: new(0), HealthCheck: new(""), MinHealthyTime: new(d),
			HealthyDeadline: new(d), ProgressDeadline: new(d), Canary: new(0), AutoRevert: new(false), AutoPromote: new(false)}
	}
	if len(j.Meta) == 0 {
		j.Meta = nil
	}
	if len(j.Constraints) == 0 {
		j.Constraints = nil
	}
	if len(j.Affinities) == 0 {
		j.Affinities = nil
	}
	if len(j.Spreads) == 0 {
		j.Spreads = nil
	}
	for _, tg := range j.TaskGroups {
		// Nomad 2.0 ignores it (Disconnect.Replace took its place) and stores false.
		tg.PreventRescheduleOnLost = new(false)
		if d := tg.Disconnect; d != nil && d.LostAfter == nil {
			d.LostAfter = new(time.Duration(0))
		}
		if len(tg.Meta) == 0 {
			tg.Meta = nil
		}
		if len(tg.Constraints) == 0 {
			tg.Constraints = nil
		}
		if len(tg.Volumes) == 0 {
			tg.Volumes = nil
		}
		for _, t := range tg.Tasks {
			if len(t.Meta) == 0 {
				t.Meta = nil
			}
			if len(t.Env) == 0 {
				t.Env = nil
			}
			if len(t.Constraints) == 0 {
				t.Constraints = nil
			}
			if len(t.Templates) == 0 {
				t.Templates = nil
			}
			if r := t.Resources; r != nil {
				// Nomad's server stores these as plain ints: 0, not null.
				for _, p := range []**int{&r.Cores, &r.DiskMB, &r.IOPS, &r.MemoryMaxMB, &r.SecretsMB} {
					if *p == nil {
						*p = new(0)
					}
				}
			}
			if t.Identity == nil {
				t.Identity = &api.WorkloadIdentity{Name: "default", Audience: []string{"nomadproject.io"}}
			}
		}
	}
}

// specOf is the job without the fields the server owns, to tell a changed
// job from a re-submission of the same one.
func specOf(j *api.Job) string {
	c := deepCopy(j)
	c.Status, c.StatusDescription, c.Stop, c.Stable = nil, nil, nil, nil
	c.Version, c.CreateIndex, c.ModifyIndex, c.JobModifyIndex, c.SubmitTime = nil, nil, nil, nil, nil
	b, _ := json.Marshal(c)
	return string(b)
}

// updateJobStatus recomputes a job's Status as Nomad's state store does and
// moves its ModifyIndex when it changes. Call with the state lock held.
func (s *Server) updateJobStatus(id string) {
	j := s.st.Jobs[id]
	if j == nil {
		return
	}
	status := s.computeJobStatus(j)
	if deref(j.Status) != status {
		j.Status = new(status)
		j.ModifyIndex = new(s.st.bump())
	}
}

func (s *Server) computeJobStatus(j *api.Job) string {
	id := *j.ID
	hasAlloc := false
	for _, a := range s.st.Allocs {
		if a.JobID != id {
			continue
		}
		hasAlloc = true
		if !allocTerminal(a) {
			return "running"
		}
	}
	hasEval := false
	for _, e := range s.st.Evals {
		if e.JobID != id {
			continue
		}
		hasEval = true
		if e.Status == "pending" || e.Status == "blocked" {
			return "pending"
		}
	}
	if deref(j.Stop) || hasAlloc {
		return "dead"
	}
	if hasEval {
		// Every evaluation finished without placing anything (e.g. count 0).
		return "dead"
	}
	return "pending"
}

// allocTerminal is Nomad's Allocation.TerminalStatus: desired stop/evict or a
// client status that will not change any more.
func allocTerminal(a *api.Allocation) bool {
	switch a.DesiredStatus {
	case "stop", "evict":
		return true
	}
	return clientTerminal(a)
}

func clientTerminal(a *api.Allocation) bool {
	switch a.ClientStatus {
	case "complete", "failed", "lost":
		return true
	}
	return false
}

// jobIndex is the index a job-scoped read reports and blocks on: the newest
// change to the job, its allocations or its evaluations.
func (s *Server) jobIndex(id string) uint64 {
	var idx uint64
	if j := s.st.Jobs[id]; j != nil {
		idx = deref(j.ModifyIndex)
	}
	for _, a := range s.st.Allocs {
		if a.JobID == id {
			idx = max(idx, a.ModifyIndex)
		}
	}
	for _, e := range s.st.Evals {
		if e.JobID == id {
			idx = max(idx, e.ModifyIndex)
		}
	}
	if idx == 0 {
		idx = s.st.Index
	}
	return idx
}

// summaryOf counts a job's allocations per group the way Nomad's job summary
// does (Queued from blocked evaluations).
func (s *Server) summaryOf(j *api.Job) *api.JobSummary {
	id := *j.ID
	sum := &api.JobSummary{JobID: id, Namespace: "default", Summary: map[string]api.TaskGroupSummary{},
		Children: &api.JobChildrenSummary{}, CreateIndex: deref(j.CreateIndex), ModifyIndex: deref(j.CreateIndex)}
	for _, tg := range j.TaskGroups {
		sum.Summary[deref(tg.Name)] = api.TaskGroupSummary{}
	}
	for _, a := range s.st.Allocs {
		if a.JobID != id {
			continue
		}
		g := sum.Summary[a.TaskGroup]
		switch a.ClientStatus {
		case "pending":
			g.Starting++
		case "running":
			g.Running++
		case "complete":
			g.Complete++
		case "failed":
			g.Failed++
		case "lost":
			g.Lost++
		default:
			g.Unknown++
		}
		sum.Summary[a.TaskGroup] = g
		sum.ModifyIndex = max(sum.ModifyIndex, a.ModifyIndex)
	}
	for _, e := range s.st.Evals {
		if e.JobID == id && e.Status == "blocked" {
			for name, n := range e.QueuedAllocations {
				g := sum.Summary[name]
				g.Queued += n
				sum.Summary[name] = g
			}
			sum.ModifyIndex = max(sum.ModifyIndex, e.ModifyIndex)
		}
	}
	return sum
}

// stopRunners tells runners their allocations are to stop. A desired-stop
// allocation no longer counts against the node, so blocked evaluations get
// their chance at once, as Nomad's scheduler sees it.
func (s *Server) stopRunners(rs []*allocRunner) {
	for _, ar := range rs {
		s.toClient(ar.node, ar.requestStop)
	}
	if len(rs) > 0 {
		go s.retryBlocked(false)
	}
}

// stopJobAllocs marks the job's live allocations desired-stop and returns
// their runners (to be told outside the lock). Call with the lock held.
func (s *Server) stopJobAllocs(jobID, why string) []*allocRunner {
	var out []*allocRunner
	for _, a := range s.st.Allocs {
		if a.JobID != jobID || a.DesiredStatus != "run" {
			continue
		}
		a.DesiredStatus, a.DesiredDescription = "stop", why
		a.ModifyIndex, a.ModifyTime = s.st.Index, now()
		if clientTerminal(a) {
			continue
		}
		if ar := s.runner(a.ID); ar != nil {
			out = append(out, ar)
		}
	}
	return out
}

// taskOut/groupOut/jobOut write a job as Nomad's server does: api.Task drops
// a nil CSIPluginConfig (omitempty), the server sends it as null.
type taskOut struct {
	*api.Task
	CSIPluginConfig *api.TaskCSIPluginConfig
}

type groupOut struct {
	*api.TaskGroup
	Tasks []taskOut
}

type jobOut struct {
	*api.Job
	TaskGroups []groupOut
}

func toJobOut(j *api.Job) *jobOut {
	if j == nil {
		return nil
	}
	out := &jobOut{Job: j, TaskGroups: make([]groupOut, len(j.TaskGroups))}
	for i, tg := range j.TaskGroups {
		g := groupOut{TaskGroup: tg, Tasks: make([]taskOut, len(tg.Tasks))}
		for k, t := range tg.Tasks {
			g.Tasks[k] = taskOut{t, t.CSIPluginConfig}
		}
		out.TaskGroups[i] = g
	}
	return out
}
