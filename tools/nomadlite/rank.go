package main

import (
	"math"
	"sort"

	"github.com/hashicorp/nomad/api"
)

// binPackingMaxFitScore is Nomad's normaliser of the fit score
// (scheduler/rank.go).
const binPackingMaxFitScore = 18.0

// maxScoreMetaData is how many of the best nodes Nomad keeps in an
// allocation's Metrics.ScoreMetaData.
const maxScoreMetaData = 5

// selectNode is Nomad's generic stack for one allocation: the ready nodes of
// the job's datacenters, filtered by feasibility, then by what they have
// left, ranked by the fit score (binpack or spread, as the scheduler
// configuration says) averaged with the job's node affinities. Returns the
// best node and the placement metric, or nil and the metric saying why none.
func (s *Server) selectNode(j *api.Job, tg *api.TaskGroup) (*clientNode, *api.AllocationMetric) {
	m := &api.AllocationMetric{NodePool: "default", NodesAvailable: map[string]int{}}
	var ready []*clientNode
	for _, n := range s.nodes {
		if s.schedulable(n) {
			ready = append(ready, n)
		}
	}
	m.NodesInPool = len(ready)
	if !s.datacenterMatches(j.Datacenters) {
		return nil, m
	}
	m.NodesAvailable[datacenter] = len(ready)
	needCPU, needMem := groupNeed(tg)
	spread := s.st.schedulerConfig().SchedulerAlgorithm == api.SchedulerAlgorithmSpread
	affinities := groupAffinities(j, tg)
	type ranked struct {
		n    *clientNode
		meta *api.NodeScoreMeta
	}
	var options []ranked
	for _, n := range ready {
		m.NodesEvaluated++
		if key := s.infeasible(n, j, tg); key != "" {
			m.NodesFiltered++
			if m.ConstraintFiltered == nil {
				m.ConstraintFiltered = map[string]int{}
			}
			m.ConstraintFiltered[key]++
			continue
		}
		capCPU, capMem := n.capacity()
		usedCPU, usedMem := s.usedResources(n)
		dim := ""
		if usedCPU+needCPU > capCPU {
			dim = "cpu"
		} else if usedMem+needMem > capMem {
			dim = "memory"
		}
		if dim != "" {
			m.NodesExhausted++
			if m.DimensionExhausted == nil {
				m.DimensionExhausted = map[string]int{}
				m.ResourcesExhausted = exhaustedResources(tg, dim)
			}
			m.DimensionExhausted[dim]++
			continue
		}
		fit := fitScore(float64(usedCPU+needCPU)/float64(capCPU), float64(usedMem+needMem)/float64(capMem), spread)
		meta := &api.NodeScoreMeta{NodeID: n.node.ID, Scores: map[string]float64{
			"binpack": fit, "job-anti-affinity": 0, "node-affinity": 0, "node-reschedule-penalty": 0}}
		scores := []float64{fit}
		if aff := s.affinityScore(n, affinities); aff != 0 {
			meta.Scores["node-affinity"] = aff
			scores = append(scores, aff)
		}
		for _, x := range scores {
			meta.NormScore += x
		}
		meta.NormScore /= float64(len(scores))
		options = append(options, ranked{n, meta})
	}
	if len(options) == 0 {
		return nil, m
	}
	// Stable: among equal scores the first node in the agent's order wins,
	// where Nomad picks among them at random.
	sort.SliceStable(options, func(a, b int) bool { return options[a].meta.NormScore > options[b].meta.NormScore })
	for i, o := range options {
		if i == maxScoreMetaData {
			break
		}
		m.ScoreMetaData = append(m.ScoreMetaData, o.meta)
	}
	return options[0].n, m
}

// fitScore is Nomad's ScoreFitBinPack (or ScoreFitSpread) over the share of
// CPU and memory the node would have in use with the allocation, normalised
// to 0…1: binpack prefers the fuller node, spread the emptier.
func fitScore(cpuUsed, memUsed float64, spread bool) float64 {
	total := math.Pow(10, 1-cpuUsed) + math.Pow(10, 1-memUsed)
	score := 20 - total
	if spread {
		score = total - 2
	}
	return min(max(score, 0), binPackingMaxFitScore) / binPackingMaxFitScore
}

// groupAffinities are the affinities that apply to a group's placement: the
// job's, the group's and its tasks', as Nomad's NodeAffinityIterator sums them.
func groupAffinities(j *api.Job, tg *api.TaskGroup) []*api.Affinity {
	out := append([]*api.Affinity{}, j.Affinities...)
	out = append(out, tg.Affinities...)
	for _, t := range tg.Tasks {
		out = append(out, t.Affinities...)
	}
	return out
}

// affinityScore is Nomad's node-affinity score: the weights of the
// affinities the node matches over the sum of all weights' magnitudes, in
// -1…1. A soft preference: it ranks feasible nodes and never filters one.
func (s *Server) affinityScore(n *clientNode, affinities []*api.Affinity) float64 {
	var total, sum float64
	for _, a := range affinities {
		w := float64(deref(a.Weight))
		sum += math.Abs(w)
		if s.checkConstraint(n, &api.Constraint{LTarget: a.LTarget, RTarget: a.RTarget, Operand: a.Operand}) {
			total += w
		}
	}
	if sum == 0 {
		return 0
	}
	return total / sum
}
