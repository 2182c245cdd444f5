package main

import (
	"net/http"
	"sort"
	"strings"

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

func (s *Server) registerJob(w http.ResponseWriter, r *http.Request) {
	var req api.JobRegisterRequest
	if err := decodeBody(r, &req); err != nil {
		httpError(w, 400, err.Error())
		return
	}
	resp, err := s.upsertJob(&req, r.PathValue("id"))
	writeAnswer(w, resp, err)
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
		allocs := s.sortedAllocs(func(a *api.Allocation) bool { return a.JobID == id })
		return listAnswer(allocs, allocIndex, toStubOut, s.jobIndex(id))
	})
}

func (s *Server) jobEvals(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.blocking(w, r, func() (uint64, int, any, string) {
		evals := s.sortedEvals(func(e *api.Evaluation) bool { return e.JobID == id })
		return listAnswer(evals, evalIndex, asIs, s.jobIndex(id))
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

func (s *Server) deregisterJob(w http.ResponseWriter, r *http.Request) {
	resp, err := s.stopJob(r.PathValue("id"), r.URL.Query().Get("purge") == "true")
	writeAnswer(w, resp, err)
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

// listAnswer answers a list as Nomad does: never null, and with the newest entry's ModifyIndex as
// the index, or emptyIndex (the job's own, the state's) while the list is empty.
func listAnswer[T, O any](items []T, index func(T) uint64, show func(T) O, emptyIndex uint64) (uint64, int, any, string) {
	out := []O{}
	var idx uint64
	for _, it := range items {
		out = append(out, show(it))
		idx = max(idx, index(it))
	}
	if idx == 0 {
		idx = emptyIndex
	}
	return idx, 200, out, ""
}

// The ModifyIndex of an allocation and of an evaluation, and an evaluation as it is shown.
func allocIndex(a *api.Allocation) uint64    { return a.ModifyIndex }
func evalIndex(e *api.Evaluation) uint64     { return e.ModifyIndex }
func asIs(e *api.Evaluation) *api.Evaluation { return e }
