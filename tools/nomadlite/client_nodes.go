package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// clientNode is one Nomad client of the agent. With -nodes 1 it is the only
// one and lives where nomadlite has always kept it; with more, each has its
// own directory, host volumes and share of the machine, so that the
// scheduler has real choices and one node can be cut off from the servers
// while the others carry on.
type clientNode struct {
	// node's Drivers, Attributes, Status, StatusUpdatedAt and Events change
	// while the agent runs: guarded by Server.nodeMu.
	node        *api.Node
	allocRoot   string
	hostVolumes map[string]string

	// link is the node's connection to the servers (partition.go), guarded
	// by Server.nodeMu.
	link nodeLink
}

// nodeNames: the single node keeps the host's name, as a Nomad client
// does; several are told apart by a suffix.
func nodeNames(n int) []string {
	host, _ := os.Hostname()
	if n <= 1 {
		return []string{host}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = host + "-" + strconv.Itoa(i+1)
	}
	return names
}

// buildClientNodes fingerprints the configured nodes, giving each the ID it
// had in the previous run. Host volumes of several nodes get a directory of
// their own under the configured path: two Nomad clients never share one.
func (s *Server) buildClientNodes() error {
	cfg := s.cfg
	names := nodeNames(cfg.Nodes)
	for _, name := range names {
		id := s.st.nodeID(name, len(names) == 1)
		root := filepath.Join(cfg.DataDir, "alloc")
		vols := map[string]string{}
		for v, p := range cfg.HostVolumes {
			vols[v] = p
		}
		if len(names) > 1 {
			root = filepath.Join(cfg.DataDir, "nodes", name, "alloc")
			for v, p := range cfg.HostVolumes {
				vols[v] = filepath.Join(p, name)
				if err := os.MkdirAll(vols[v], 0o755); err != nil {
					return fmt.Errorf("host volume %s of node %s: %w", v, name, err)
				}
			}
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return err
		}
		s.nodes = append(s.nodes, &clientNode{node: buildNode(cfg, id, name, vols, len(names)), allocRoot: root, hostVolumes: vols})
	}
	return nil
}

// nodeOf is the node an allocation was placed on; an allocation of a node
// a previous run had (another -nodes) is looked for on the first.
func (s *Server) nodeOf(a *api.Allocation) *clientNode {
	if n := s.nodeByID(a.NodeID); n != nil {
		return n
	}
	return s.nodes[0]
}

func (s *Server) nodeByID(id string) *clientNode {
	for _, n := range s.nodes {
		if n.node.ID == id {
			return n
		}
	}
	return nil
}

// nodeByRef finds a node by ID or name, as the admin endpoints take either.
func (s *Server) nodeByRef(ref string) *clientNode {
	for _, n := range s.nodes {
		if n.node.ID == ref || n.node.Name == ref {
			return n
		}
	}
	return nil
}

func (s *Server) allocDir(a *api.Allocation) string {
	return filepath.Join(s.nodeOf(a).allocRoot, a.ID)
}

// schedulable: the servers place allocations on the node.
func (s *Server) schedulable(n *clientNode) bool {
	s.nodeMu.Lock()
	defer s.nodeMu.Unlock()
	// A cut-off node gets nothing new: it could not start it anyway.
	return n.node.Status == "ready" && n.node.SchedulingEligibility == "eligible" && !n.link.partitioned
}
