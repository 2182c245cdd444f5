package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// fsLogs serves /v1/client/fs/logs/:alloc — a task's stdout or stderr,
// plain or as Nomad's JSON stream frames, optionally following the file
// while the task runs.
func (s *Server) fsLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	task, kind := q.Get("task"), q.Get("type")
	plain, follow := q.Get("plain") == "true", q.Get("follow") == "true"
	origin := q.Get("origin")
	if origin == "" {
		origin = "start"
	}
	offset, _ := strconv.ParseInt(q.Get("offset"), 10, 64)
	s.st.mu.Lock()
	a := s.st.Allocs[id]
	known := a != nil && a.TaskStates != nil
	if a != nil {
		_, known = a.TaskStates[task]
		if !known {
			for _, t := range allocTasks(a) {
				known = known || t == task
			}
		}
	}
	s.st.mu.Unlock()
	switch {
	case a == nil:
		httpError(w, 404, "alloc not found")
		return
	case task == "":
		httpError(w, 400, "must include task name")
		return
	case kind != "stdout" && kind != "stderr":
		httpError(w, 400, "must include type: stdout or stderr")
		return
	case origin != "start" && origin != "end":
		httpError(w, 400, `origin must be "start" or "end"`)
		return
	case offset < 0:
		httpError(w, 400, "offset must be non-negative")
		return
	case !known:
		httpError(w, 400, fmt.Sprintf("unknown task name %q", task))
		return
	}
	rel := fmt.Sprintf("alloc/logs/%s.%s.0", task, kind)
	path := filepath.Join(s.allocDir(id), rel)
	var pos int64
	if origin == "end" {
		if st, err := os.Stat(path); err == nil {
			pos = max(st.Size()-offset, 0)
		}
	} else {
		pos = offset
	}
	if plain {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(200)
	flusher, _ := w.(http.Flusher)
	emit := func(b []byte, at int64) error {
		if len(b) == 0 {
			return nil
		}
		var err error
		if plain {
			_, err = w.Write(b)
		} else {
			for len(b) > 0 && err == nil {
				n := min(len(b), 64*1024)
				var frame []byte
				frame, err = json.Marshal(api.StreamFrame{Data: b[:n], File: rel, Offset: at + int64(n)})
				if err == nil {
					_, err = w.Write(frame)
				}
				b, at = b[n:], at+int64(n)
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		return err
	}
	buf := make([]byte, 32*1024)
	readMore := func() (bool, error) {
		f, err := os.Open(path)
		if err != nil {
			return false, nil
		}
		defer f.Close()
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			return false, nil
		}
		got := false
		for {
			n, rerr := f.Read(buf)
			if n > 0 {
				got = true
				if err := emit(buf[:n], pos); err != nil {
					return got, err
				}
				pos += int64(n)
			}
			if rerr != nil {
				return got, nil
			}
		}
	}
	if _, err := readMore(); err != nil || !follow {
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		dead := s.taskDead(id, task)
		if _, err := readMore(); err != nil {
			return
		}
		if dead {
			return
		}
	}
}

func allocTasks(a *api.Allocation) []string {
	var out []string
	if a.Job == nil {
		return out
	}
	for _, tg := range a.Job.TaskGroups {
		if deref(tg.Name) == a.TaskGroup {
			for _, t := range tg.Tasks {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// taskDead: the task has ended, or its allocation is gone or finished.
func (s *Server) taskDead(allocID, task string) bool {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	a := s.st.Allocs[allocID]
	if a == nil || clientTerminal(a) {
		return true
	}
	ts := a.TaskStates[task]
	return ts != nil && ts.State == "dead"
}

// fsCat serves /v1/client/fs/cat/:alloc?path=… from the allocation
// directory, also after the allocation finished (until it is collected).
func (s *Server) fsCat(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := r.URL.Query().Get("path")
	s.st.mu.Lock()
	a := s.st.Allocs[id]
	s.st.mu.Unlock()
	if a == nil {
		httpError(w, 404, "alloc not found")
		return
	}
	if p == "" {
		httpError(w, 400, "must provide a file path")
		return
	}
	clean := filepath.Clean("/" + p)
	if strings.Contains(p, "..") {
		httpError(w, 400, "Path is escaping the alloc directory")
		return
	}
	full := filepath.Join(s.allocDir(id), clean)
	st, err := os.Stat(full)
	if err != nil {
		httpError(w, 500, fmt.Sprintf("stat %s: no such file or directory", full))
		return
	}
	if st.IsDir() {
		httpError(w, 400, fmt.Sprintf("file %q is a directory", p))
		return
	}
	f, err := os.Open(full)
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(200)
	_, _ = io.Copy(w, f)
}
