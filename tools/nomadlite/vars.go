package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

var validVarPath = regexp.MustCompile(`^[a-zA-Z0-9-_~/]{1,128}$`)

// varMetaOut is a variable's metadata as Nomad's server writes it
// (structs.VariableMetadata), Lock null when there is none (the api struct
// omits it): a list entry, and the head of a whole variable.
type varMetaOut struct {
	Namespace   string
	Path        string
	Lock        *api.VariableLock
	CreateIndex uint64
	CreateTime  int64
	ModifyIndex uint64
	ModifyTime  int64
}

func metaOf(v *api.Variable) varMetaOut {
	return varMetaOut{Namespace: v.Namespace, Path: v.Path, Lock: v.Lock, CreateIndex: v.CreateIndex, CreateTime: v.CreateTime,
		ModifyIndex: v.ModifyIndex, ModifyTime: v.ModifyTime}
}

// varOut is a whole variable (structs.VariableDecrypted): the metadata first,
// then the items (an embedded struct's fields come first in Go's JSON).
type varOut struct {
	varMetaOut
	Items map[string]string
}

func showVar(v *api.Variable) varOut { return varOut{varMetaOut: metaOf(v), Items: v.Items} }

func (s *Server) getVar(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	s.blocking(w, r, func() (uint64, int, any, string) {
		v := s.st.Vars[path]
		if v == nil {
			return s.st.Index, 404, nil, "variable not found"
		}
		return v.ModifyIndex, 200, showVar(v), ""
	})
}

// putVar stores a variable; ?cas=N is a check-and-set: 409 with the current
// variable (or an empty one when it does not exist) if N is not its index
// (see casRefused).
func (s *Server) putVar(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	var in api.Variable
	if err := decodeBody(r, &in); err != nil {
		httpError(w, 400, err.Error())
		return
	}
	if in.Path != "" && in.Path != path {
		httpError(w, 400, "variable path in body does not match the URL")
		return
	}
	if !validVarPath.MatchString(path) || strings.Contains(path, "//") || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") {
		httpError(w, 400, fmt.Sprintf("invalid path %q", path))
		return
	}
	if len(in.Items) == 0 {
		httpError(w, 400, "variables must contain at least one item")
		return
	}
	st := s.st
	st.locked(func() {
		cur := st.Vars[path]
		if s.casRefused(w, r, cur, path) {
			return
		}
		idx := st.bump()
		t := now()
		v := &api.Variable{Namespace: "default", Path: path, Items: in.Items, ModifyIndex: idx, ModifyTime: t, CreateIndex: idx, CreateTime: t}
		if cur != nil {
			v.CreateIndex, v.CreateTime = cur.CreateIndex, cur.CreateTime
		}
		st.Vars[path] = v
		s.setQueryHeaders(w, idx)
		writeJSON(w, 200, showVar(v))
	})
}

// deleteVar answers as Nomad does: 204 No Content with an empty body and the
// index of the delete, also for a path that never existed; a stale ?cas= is
// a 409 like the PUT's.
func (s *Server) deleteVar(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	st := s.st
	st.locked(func() {
		cur := st.Vars[path]
		if s.casRefused(w, r, cur, path) {
			return
		}
		if cur != nil {
			delete(st.Vars, path)
		}
		s.setQueryHeaders(w, st.bump())
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) listVars(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("prefix")
	s.blocking(w, r, func() (uint64, int, any, string) {
		out := []varMetaOut{}
		var idx uint64
		paths := make([]string, 0, len(s.st.Vars))
		for p := range s.st.Vars {
			if strings.HasPrefix(p, prefix) {
				paths = append(paths, p)
			}
		}
		sort.Strings(paths)
		for _, p := range paths {
			v := s.st.Vars[p]
			out = append(out, metaOf(v))
			idx = max(idx, v.ModifyIndex)
		}
		if idx == 0 {
			idx = s.st.Index
		}
		return idx, 200, out, ""
	})
}

// casRefused answers a write whose ?cas= index is not the variable's current one, as Nomad
// does: 409 whose body is the current variable as JSON but sent as text/plain (Nomad answers
// the conflict through its error path), an empty variable of that path when there is none;
// index 0 means "must not exist". True when it has answered.
func (s *Server) casRefused(w http.ResponseWriter, r *http.Request, cur *api.Variable, path string) bool {
	cs := r.URL.Query().Get("cas")
	if cs == "" {
		return false
	}
	cas, err := strconv.ParseUint(cs, 10, 64)
	if err != nil {
		httpError(w, 400, "failed to parse cas value")
		return true
	}
	var have uint64
	if cur != nil {
		have = cur.ModifyIndex
	}
	if cas == have {
		return false
	}
	conflict := cur
	if conflict == nil {
		conflict = &api.Variable{Namespace: "default", Path: path}
	}
	b, err := json.Marshal(showVar(conflict))
	if err != nil {
		httpError(w, 500, err.Error())
		return true
	}
	s.setQueryHeaders(w, s.st.Index)
	httpError(w, http.StatusConflict, string(b))
	return true
}
