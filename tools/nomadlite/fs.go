package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// fsLogs serves /v1/client/fs/logs/:alloc — a task's stdout or stderr,
// plain or as Nomad's JSON stream frames, optionally following the file.
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
	var a *api.Allocation
	known := false
	s.st.locked(func() {
		a = s.st.Allocs[id]
		if a != nil {
			_, known = a.TaskStates[task]
			if !known {
				for _, t := range allocTasks(a) {
					known = known || t == task
				}
			}
		}
	})
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
	case !s.clientHolds(a):
		httpError(w, 404, fmt.Sprintf("Unknown allocation %q", id))
		return
	case !known:
		httpError(w, 400, fmt.Sprintf("unknown task name %q", task))
		return
	}
	rel := fmt.Sprintf("alloc/logs/%s.%s.0", task, kind)
	path := filepath.Join(s.allocDir(a), rel)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		// Nomad's words for a stream with no file (seen on 2.0.5): a task not started yet, or one
		// with LogConfig.Disabled that has not written its own.
		httpError(w, 404, fmt.Sprintf("log entry for task %q and log type %q not found", task, kind))
		return
	}
	var pos int64
	if origin == "end" {
		if st, err := os.Stat(path); err == nil {
			pos = max(st.Size()-offset, 0)
		}
	} else {
		pos = offset
	}
	if plain {
		w.Header().Set("Content-Type", "text/plain")
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
	// Nomad never ends a follow stream, not even for a dead task (scenario
	// follow-dead-task): it lasts until the caller goes away.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-tick.C:
		}
		if _, err := readMore(); err != nil {
			return
		}
	}
}

func allocTasks(a *api.Allocation) []string {
	var out []string
	if tg := allocGroup(a); tg != nil {
		for _, t := range tg.Tasks {
			out = append(out, t.Name)
		}
	}
	return out
}

// allocFile resolves a path given to the fs endpoints inside the allocation
// directory, refusing one that climbs out of it (Nomad's PathEscapesAllocDir).
func (s *Server) allocFile(a *api.Allocation, p string) (string, error) {
	root := s.allocDir(a)
	full := filepath.Join(root, p)
	if rel, err := filepath.Rel(root, full); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("Path escapes the alloc directory")
	}
	return full, nil
}

func (s *Server) allocExists(id string) (*api.Allocation, bool) {
	a := lockedValue(s.st, func() *api.Allocation { return s.st.Allocs[id] })
	return a, a != nil
}

// fsCat serves /v1/client/fs/cat/:alloc?path=… from the allocation
// directory, also after the allocation finished (until it is collected, by
// the server's GC or the client's gc-max-allocs).
// Nomad streams cat, so every failure after the request was accepted arrives
// as a 200 text/plain body holding the error (scenario client-fs).
func (s *Server) fsCat(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := r.URL.Query().Get("path")
	if p == "" {
		httpError(w, 400, "must provide a file name")
		return
	}
	a, ok := s.allocExists(id)
	if !ok || !s.clientHolds(a) {
		httpError(w, 200, fmt.Sprintf("Unknown allocation %q", id))
		return
	}
	full, err := s.allocFile(a, p)
	if err == nil {
		err = refuseSecrets(a, s.allocDir(a), full, p)
	}
	var st os.FileInfo
	if err == nil {
		st, err = os.Stat(full)
	}
	if err == nil && st.IsDir() {
		err = fmt.Errorf("file %q is a directory", p)
	}
	var f *os.File
	if err == nil {
		f, err = os.Open(full)
	}
	if err != nil {
		httpError(w, 200, err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(200)
	_, _ = io.Copy(w, f)
}

// refuseSecrets keeps fs reads out of every task's secrets/, as Nomad's
// AllocDir.ReadAt does (case-insensitive prefix, like Nomad's).
func refuseSecrets(a *api.Allocation, root, full, p string) error {
	for _, t := range allocTasks(a) {
		if strings.HasPrefix(strings.ToLower(full), strings.ToLower(filepath.Join(root, t, "secrets"))) {
			return fmt.Errorf("Reading secret file prohibited: %s", p)
		}
	}
	return nil
}

// fsList serves /v1/client/fs/ls/:alloc?path= (default the alloc root): the
// directory's entries as api.AllocFileInfo, without ContentType, as Nomad's
// AllocDir.List leaves it.
func (s *Server) fsList(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := r.URL.Query().Get("path")
	if p == "" {
		p = "/"
	}
	full, ok := s.fsTarget(w, id, p)
	if !ok {
		return
	}
	ents, err := os.ReadDir(full)
	if err != nil {
		fsError(w, err)
		return
	}
	out := make([]api.AllocFileInfo, 0, len(ents))
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			fsError(w, err)
			return
		}
		out = append(out, fileInfo(info, ""))
	}
	writeJSON(w, 200, out)
}

// fsStat serves /v1/client/fs/stat/:alloc?path=.
func (s *Server) fsStat(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := r.URL.Query().Get("path")
	if p == "" {
		httpError(w, 400, "must provide a file name")
		return
	}
	full, ok := s.fsTarget(w, id, p)
	if !ok {
		return
	}
	info, err := os.Stat(full)
	if err != nil {
		fsError(w, err)
		return
	}
	writeJSON(w, 200, fileInfo(info, detectContentType(info, full)))
}

// fsTarget answers the errors ls and stat share: an allocation unknown to
// the server or collected by the client is 404 with Nomad's client wording,
// an escaping path 500.
func (s *Server) fsTarget(w http.ResponseWriter, id, p string) (string, bool) {
	a, ok := s.allocExists(id)
	if !ok || !s.clientHolds(a) {
		httpError(w, 404, fmt.Sprintf("Unknown allocation %q", id))
		return "", false
	}
	full, err := s.allocFile(a, p)
	if err != nil {
		httpError(w, 500, err.Error())
		return "", false
	}
	return full, true
}

// fsError: a missing path is 404 with the os error's own text (Nomad maps
// "no such file or directory" to 404); anything else 500.
func fsError(w http.ResponseWriter, err error) {
	code := 500
	if errors.Is(err, fs.ErrNotExist) {
		code = 404
	}
	httpError(w, code, err.Error())
}

func fileInfo(info os.FileInfo, contentType string) api.AllocFileInfo {
	return api.AllocFileInfo{Name: info.Name(), IsDir: info.IsDir(), Size: info.Size(),
		FileMode: info.Mode().String(), ModTime: info.ModTime().UTC(), ContentType: contentType}
}

// detectContentType is Nomad's: sniff the first 512 bytes of a non-empty
// file, application/octet-stream otherwise, application/json for *.json.
func detectContentType(info os.FileInfo, path string) string {
	ct := "application/octet-stream"
	if !info.IsDir() {
		if f, err := os.Open(path); err == nil {
			b := make([]byte, 512)
			if n, err := f.Read(b); err == nil {
				ct = http.DetectContentType(b[:n])
			}
			f.Close()
		}
	}
	if strings.HasSuffix(path, ".json") {
		ct = "application/json"
	}
	return ct
}
