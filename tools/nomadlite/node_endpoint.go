package main

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hashicorp/nomad/api"
)

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	prefix, resources := r.URL.Query().Get("prefix"), r.URL.Query().Get("resources") == "true"
	s.setQueryHeaders(w, s.nodesIndex())
	out := []nodeStubOut{}
	s.nodeMu.Lock()
	for _, n := range s.nodes {
		if strings.HasPrefix(n.node.ID, prefix) {
			out = append(out, nodeStub(n.node, resources))
		}
	}
	b, err := json.Marshal(out)
	s.nodeMu.Unlock()
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	writeRaw(w, 200, b)
}

// nodesIndex is the newest change of any node.
func (s *Server) nodesIndex() uint64 {
	s.nodeMu.Lock()
	defer s.nodeMu.Unlock()
	var idx uint64
	for _, n := range s.nodes {
		idx = max(idx, n.node.ModifyIndex)
	}
	return idx
}

// pathNode is the node the request's path names; nil (the 404 written) when there is none.
func (s *Server) pathNode(w http.ResponseWriter, r *http.Request) *clientNode {
	n := s.nodeByID(r.PathValue("id"))
	if n == nil {
		s.setQueryHeaders(w, 1)
		httpError(w, 404, "node not found")
	}
	return n
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	n := s.pathNode(w, r)
	if n == nil {
		return
	}
	s.nodeMu.Lock()
	idx := n.node.ModifyIndex
	b, err := json.Marshal(nodeOut{n.node, nodeResourcesOutOf(n.node)})
	s.nodeMu.Unlock()
	s.setQueryHeaders(w, idx)
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	writeRaw(w, 200, b)
}

func (s *Server) nodeAllocs(w http.ResponseWriter, r *http.Request) {
	n := s.pathNode(w, r)
	if n == nil {
		return
	}
	s.blocking(w, r, func() (uint64, int, any, string) {
		out := []allocOut{}
		var idx uint64
		for _, a := range s.sortedAllocs(func(a *api.Allocation) bool { return s.nodeOf(a) == n }) {
			out = append(out, toAllocOut(a, s.st.AllocStates[a.ID]))
			idx = max(idx, a.ModifyIndex)
		}
		return idx, 200, out, ""
	})
}

func (s *Server) leader(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, "127.0.0.1:4647")
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, []string{"127.0.0.1:4647"})
}

// agentSelf returns the parts of Nomad's /v1/agent/self a client looks at:
// config (region, datacenter, version) and member.
func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, api.AgentSelf{
		Config: map[string]any{
			"Region": "global", "Datacenter": datacenter, "NodeName": s.nodes[0].node.Name, "DataDir": s.cfg.DataDir,
			"Version": map[string]any{"Version": nomadVersion, "VersionPrerelease": "", "VersionMetadata": "", "Revision": "nomadlite-" + version},
			"Client":  map[string]any{"Enabled": true, "NodeClass": s.cfg.NodeClass, "Meta": s.nodes[0].node.Meta},
			"Server":  map[string]any{"Enabled": true},
			"ACL":     map[string]any{"Enabled": false},
		},
		Member: api.AgentMember{
			Name: s.nodes[0].node.Name + ".global", Addr: "127.0.0.1", Port: 4648, Status: "alive",
			Tags: map[string]string{"region": "global", "dc": datacenter, "build": nomadVersion, "role": "nomad"},
		},
		Stats: map[string]map[string]string{"nomadlite": {"version": version}},
	})
}
