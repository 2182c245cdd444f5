package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// writeResponse is the wire form of Nomad's register/deregister answers. The
// api package's JobRegisterResponse embeds the *client-side* QueryMeta
// (LastIndex, RequestTime); the server sends Index/KnownLeader/LastContact/
// NextToken instead, so the api fields are copied into this shape.
type writeResponse struct {
	EvalID          string
	EvalCreateIndex uint64
	JobModifyIndex  uint64
	Warnings        *string `json:",omitempty"`
	VolumeEvalID    *string `json:",omitempty"`
	VolumeEvalIndex *uint64 `json:",omitempty"`
	Index           uint64
	KnownLeader     bool
	LastContact     int64
	NextToken       string
}

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
		if tg.PreventRescheduleOnLost == nil {
			tg.PreventRescheduleOnLost = new(false)
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

func (s *Server) registerJob(w http.ResponseWriter, r *http.Request) {
	var req api.JobRegisterRequest
	if err := decodeBody(r, &req); err != nil {
		httpError(w, 400, err.Error())
		return
	}
	if req.Job == nil {
		httpError(w, 400, "Job must be specified")
		return
	}
	if req.Job.ID == nil {
		httpError(w, 400, "Job ID hasn't been provided")
		return
	}
	if pid := r.PathValue("id"); pid != "" && pid != *req.Job.ID {
		httpError(w, 400, "Job ID does not match name")
		return
	}
	job := req.Job
	canonicalize(job)
	if err := validateJob(job); err != nil {
		httpError(w, 500, err.Error())
		return
	}
	id := *job.ID
	st := s.st
	st.mu.Lock()
	existing := st.Jobs[id]
	if req.EnforceIndex {
		var cur uint64
		if existing != nil {
			cur = deref(existing.JobModifyIndex)
		}
		switch {
		case req.JobModifyIndex == 0 && existing != nil:
			st.mu.Unlock()
			httpError(w, 500, "Enforcing job modify index 0: job already exists")
			return
		case req.JobModifyIndex != 0 && existing == nil:
			st.mu.Unlock()
			httpError(w, 500, fmt.Sprintf("Enforcing job modify index %d: job does not exist", req.JobModifyIndex))
			return
		case req.JobModifyIndex != 0 && cur != req.JobModifyIndex:
			st.mu.Unlock()
			httpError(w, 500, fmt.Sprintf("Enforcing job modify index %d: job exists with conflicting job modify index: %d", req.JobModifyIndex, cur))
			return
		}
	}
	idx := st.bump()
	changed := true
	if existing != nil {
		changed = specOf(existing) != specOf(job) || deref(existing.Stop) != deref(job.Stop)
		job.CreateIndex = existing.CreateIndex
		v := deref(existing.Version)
		if changed {
			v++
		}
		job.Version = new(v)
	} else {
		job.CreateIndex = new(idx)
		job.Version = new(uint64(0))
	}
	job.ModifyIndex, job.JobModifyIndex = new(idx), new(idx)
	job.SubmitTime = new(now())
	job.Status = new("pending")
	st.Jobs[id] = job

	eval := s.newEval(job, "job-register", idx)
	var toStart []*api.Allocation
	var stopping []*allocRunner
	if changed && !deref(job.Stop) {
		// A new version replaces whatever of the old one is still running.
		stopping = s.stopJobAllocs(id, "alloc not needed due to job update")
		s.cancelBlocked(id)
		toStart = s.schedule(job, eval, false)
	} else if deref(job.Stop) {
		stopping = s.stopJobAllocs(id, "alloc not needed due to job update")
		s.cancelBlocked(id)
		s.finishEval(eval, nil)
	} else {
		s.finishEval(eval, nil)
	}
	s.updateJobStatus(id)
	resp := writeResponse{EvalID: eval.ID, EvalCreateIndex: eval.CreateIndex, JobModifyIndex: idx, Warnings: new(""), Index: st.Index}
	st.mu.Unlock()
	logf("job %s registered (version %d, %d alloc(s) placed, eval %s)", id, deref(job.Version), len(toStart), eval.ID[:8])
	s.stopRunners(stopping)
	s.startRunners(toStart)
	writeJSON(w, 200, resp)
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

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix, withMeta := q.Get("prefix"), q.Get("meta") == "true"
	s.blocking(w, r, func() (uint64, int, any, string) {
		out := []*api.JobListStub{}
		var idx uint64
		ids := make([]string, 0, len(s.st.Jobs))
		for id := range s.st.Jobs {
			if strings.HasPrefix(id, prefix) {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			j := s.st.Jobs[id]
			stub := &api.JobListStub{
				ID: id, ParentID: deref(j.ParentID), Name: deref(j.Name), Namespace: deref(j.Namespace),
				Datacenters: j.Datacenters, Type: deref(j.Type), Priority: deref(j.Priority),
				Periodic: j.Periodic != nil, ParameterizedJob: j.ParameterizedJob != nil, Stop: deref(j.Stop),
				Status: deref(j.Status), StatusDescription: deref(j.StatusDescription), JobSummary: s.summaryOf(j),
				CreateIndex: deref(j.CreateIndex), ModifyIndex: deref(j.ModifyIndex), JobModifyIndex: deref(j.JobModifyIndex),
				SubmitTime: deref(j.SubmitTime),
			}
			if withMeta {
				stub.Meta = j.Meta
			}
			out = append(out, stub)
			idx = max(idx, deref(j.ModifyIndex), stub.JobSummary.ModifyIndex)
		}
		if len(out) == 0 {
			idx = s.st.Index
		}
		return idx, 200, jobListOut(out, withMeta), ""
	})
}

// jobStubOut adds what Nomad's server lists and api.JobListStub lacks
// (NodePool, Multiregion); jobStubMetaOut keeps Meta even when a job has
// none, as Nomad does with meta=true (the api struct drops an empty map).
type jobStubOut struct {
	*api.JobListStub
	NodePool    string
	Multiregion *api.Multiregion
}

type jobStubMetaOut struct {
	jobStubOut
	Meta map[string]string
}

func jobListOut(stubs []*api.JobListStub, withMeta bool) any {
	if !withMeta {
		out := make([]jobStubOut, len(stubs))
		for i, st := range stubs {
			out[i] = jobStubOut{st, "default", nil}
		}
		return out
	}
	out := make([]jobStubMetaOut, len(stubs))
	for i, st := range stubs {
		out[i] = jobStubMetaOut{jobStubOut{st, "default", nil}, st.Meta}
	}
	return out
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

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		j := s.st.Jobs[id]
		if j == nil {
			return s.st.Index, 404, nil, "job not found"
		}
		return deref(j.ModifyIndex), 200, toJobOut(j), ""
	})
}

func (s *Server) jobAllocs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		out := []allocStubOut{}
		var idx uint64
		for _, a := range s.sortedAllocs(func(a *api.Allocation) bool { return a.JobID == id }) {
			out = append(out, toStubOut(a))
			idx = max(idx, a.ModifyIndex)
		}
		if idx == 0 {
			idx = s.jobIndex(id)
		}
		return idx, 200, out, ""
	})
}

func (s *Server) jobEvals(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		out := []*api.Evaluation{}
		var idx uint64
		for _, e := range s.sortedEvals(func(e *api.Evaluation) bool { return e.JobID == id }) {
			out = append(out, e)
			idx = max(idx, e.ModifyIndex)
		}
		if idx == 0 {
			idx = s.jobIndex(id)
		}
		return idx, 200, out, ""
	})
}

func (s *Server) jobSummary(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		j := s.st.Jobs[id]
		if j == nil {
			return s.st.Index, 404, nil, "job not found"
		}
		sum := s.summaryOf(j)
		return sum.ModifyIndex, 200, sum, ""
	})
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

func (s *Server) deregisterJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	purge := r.URL.Query().Get("purge") == "true"
	st := s.st
	st.mu.Lock()
	j := st.Jobs[id]
	if j == nil {
		st.mu.Unlock()
		httpError(w, 404, "job not found")
		return
	}
	idx := st.bump()
	if !deref(j.Stop) {
		j.Stop = new(true)
		j.Version = new(deref(j.Version) + 1)
	}
	j.JobModifyIndex, j.ModifyIndex = new(idx), new(idx)
	eval := s.newEval(j, "job-deregister", idx)
	s.finishEval(eval, nil)
	s.cancelBlocked(id)
	stopping := s.stopJobAllocs(id, "alloc not needed due to job update")
	if purge {
		// Purge forgets the job, its allocations and evaluations at once; the
		// allocation runners still stop their tasks and run poststop, then
		// remove the alloc dirs because the allocs are gone from the state.
		delete(st.Jobs, id)
		for aid, a := range st.Allocs {
			if a.JobID == id {
				delete(st.Allocs, aid)
				if !clientTerminal(a) {
					continue
				}
				go s.removeAllocDir(aid)
			}
		}
		for eid, e := range st.Evals {
			if e.JobID == id && eid != eval.ID {
				delete(st.Evals, eid)
			}
		}
		st.bump()
	} else {
		s.updateJobStatus(id)
	}
	resp := writeResponse{EvalID: eval.ID, EvalCreateIndex: eval.CreateIndex, JobModifyIndex: idx,
		VolumeEvalID: new(""), VolumeEvalIndex: new(uint64(0)), Index: st.Index}
	st.mu.Unlock()
	s.stopRunners(stopping)
	logf("job %s stopped%s (%d running alloc(s) told to stop)", id, map[bool]string{true: " and purged"}[purge], len(stopping))
	writeJSON(w, 200, resp)
}

// stopRunners tells runners their allocations are to stop. A desired-stop
// allocation no longer counts against the node, so blocked evaluations get
// their chance at once, as Nomad's scheduler sees it.
func (s *Server) stopRunners(rs []*allocRunner) {
	for _, ar := range rs {
		ar.requestStop()
	}
	if len(rs) > 0 {
		go s.retryBlocked()
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

func (s *Server) validateJob(w http.ResponseWriter, r *http.Request) {
	var req api.JobValidateRequest
	if err := decodeBody(r, &req); err != nil {
		httpError(w, 400, err.Error())
		return
	}
	if req.Job == nil {
		httpError(w, 400, "Job must be specified")
		return
	}
	canonicalize(req.Job)
	resp := api.JobValidateResponse{DriverConfigValidated: true, ValidationErrors: []string{}}
	if err := validateJob(req.Job); err != nil {
		for _, e := range err.Errors {
			resp.ValidationErrors = append(resp.ValidationErrors, e.Error())
		}
		resp.Error = err.Error()
		resp.DriverConfigValidated = false
	}
	writeJSON(w, 200, resp)
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
