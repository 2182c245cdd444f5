package main

import "sort"

// newestFirst returns the kept values of m by create index, newest first (ties by ID), the
// order Nomad's list endpoints use.
func newestFirst[T any](m map[string]*T, keep func(*T) bool, key func(*T) (createIndex uint64, id string)) []*T {
	var out []*T
	for _, v := range m {
		if keep(v) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ci, idi := key(out[i])
		cj, idj := key(out[j])
		if ci != cj {
			return ci > cj
		}
		return idi < idj
	})
	return out
}
