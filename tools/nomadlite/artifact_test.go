package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// entry of a test archive: kind "file", "dir" or "symlink" (data: the target).
type entry struct {
	name, kind, data string
	mode             int64
}

func tgz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: time.Unix(1700000000, 0)}
		switch e.kind {
		case "dir":
			h.Typeflag = tar.TypeDir
		case "symlink":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.data
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.kind == "file" {
			_, _ = tw.Write([]byte(e.data))
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(os.FileMode(e.mode))
		if e.kind == "dir" {
			h.Name += "/"
			h.SetMode(os.ModeDir | os.FileMode(e.mode))
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(e.data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// artifactServer serves files by path and remembers each GET's path and
// Authorization header. A path in flaky answers 404 the first time; a
// request for /hang waits until the client goes away.
type artifactServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	requests []string // "path auth"
	flaky    map[string]bool
	hanging  chan struct{}
}

func newArtifactServer(t *testing.T, files map[string][]byte) *artifactServer {
	s := &artifactServer{files: files, flaky: map[string]bool{}, hanging: make(chan struct{}, 10)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		body, ok := s.files[r.URL.Path]
		if s.flaky[r.URL.Path] {
			s.flaky[r.URL.Path], ok = false, false
		}
		s.mu.Unlock()
		if r.URL.Path == "/hang" {
			s.hanging <- struct{}{}
			<-r.Context().Done()
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func artifact(src string, opts M, dest string) M {
	a := M{"GetterSource": src, "RelativeDest": dest}
	if opts != nil {
		a["GetterOptions"] = opts
	}
	return a
}

// withArtifacts is a batch job of one raw_exec task with the artifacts.
func withArtifacts(id, script string, arts ...M) M {
	tk := task("build", script, "")
	tk["Artifacts"] = arts
	return batchJob(id, tk)
}

// lsDir lists a directory as "mode size name" lines (size 0 for a
// directory, whose size depends on the file system).
func lsDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fi, _ := e.Info()
		size := fi.Size()
		if fi.IsDir() {
			size = 0
		}
		out = append(out, fmt.Sprintf("%v %d %s", fi.Mode(), size, e.Name()))
	}
	return out
}

func TestArtifacts(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	good := tgz(t, entry{"a.txt", "file", "alpha", 0o644}, entry{"dir", "dir", "", 0o750}, entry{"dir/run.sh", "file", "#!/bin/sh\necho run-ok\n", 0o755},
		entry{"link", "symlink", "a.txt", 0o777}, entry{"abs", "symlink", "/etc/passwd", 0o777})
	hostile := tgz(t, entry{"ok.txt", "file", "fine", 0o644}, entry{"../escape.txt", "file", "escaped", 0o644})
	zipped := zipOf(t, entry{"z", "dir", "", 0o755}, entry{"z/tool", "file", "#!/bin/sh\necho zip-ok\n", 0o755}, entry{"z/data", "file", "d", 0o600})
	srv := newArtifactServer(t, map[string][]byte{"/good.tgz": good, "/hostile.tgz": hostile, "/tools.zip": zipped, "/flaky.tgz": good})

	t.Run("tar.gz with checksum and header", func(t *testing.T) {
		t.Parallel()
		art := artifact(srv.URL+"/good.tgz?case=ok", M{"checksum": sha(good)}, "local/src")
		art["GetterHeaders"] = M{"Authorization": "Bearer ${NOMAD_JOB_ID}-token"}
		a.register(withArtifacts("art-ok", `cat local/src/a.txt; echo; local/src/dir/run.sh; test -L local/src/link || echo not-a-link`, art))
		al := a.waitAlloc("art-ok", 20*time.Second, done)
		id := al["ID"].(string)
		if got := eventTypes(al, "build"); al["ClientStatus"] != "complete" || !slices.Equal(got, []string{"Received", "Task Setup", "Downloading Artifacts", "Started", "Terminated"}) {
			t.Fatalf("%s", summarize(al))
		}
		if e := lastEvent(al, "build", "Downloading Artifacts"); e["DisplayMessage"] != "Client is downloading artifacts" || e["Message"] != "" {
			t.Errorf("event %v", e)
		}
		if out := a.logs(id, "build", "stdout", ""); out != "alpha\nrun-ok\nnot-a-link\n" {
			t.Errorf("stdout %q", out)
		}
		srv.mu.Lock()
		reqs := slices.Clone(srv.requests)
		srv.mu.Unlock()
		// The options are the getter's, not the server's: only the URL's own query goes out.
		if !slices.Contains(reqs, "/good.tgz?case=ok Bearer art-ok-token") {
			t.Errorf("requests %q", reqs)
		}
		dir := filepath.Join(a.dir, "alloc", id, "build", "local", "src")
		want := []string{"-rw-r--r-- 5 a.txt", "-rwxrwxrwx 0 abs", "drwxr-x--- 0 dir", "-rwxrwxrwx 0 link"}
		if got := lsDir(t, dir); !slices.Equal(got, want) {
			t.Errorf("unpacked %q, want %q", got, want)
		}
		if fi, err := os.Stat(filepath.Join(dir, "a.txt")); err != nil || fi.ModTime().Unix() != 1700000000 {
			t.Errorf("a.txt mtime: %v %v", fi, err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, "dir", "run.sh")); fi == nil || fi.Mode() != 0o755 {
			t.Errorf("run.sh mode %v", fi)
		}
		// The getter's temporary directory is gone.
		if ents, _ := os.ReadDir(filepath.Join(a.dir, "alloc", id, "build", "tmp")); len(ents) != 0 {
			t.Errorf("tmp left: %v", ents)
		}
	})
	t.Run("archive=false keeps the file", func(t *testing.T) {
		t.Parallel()
		a.register(withArtifacts("art-raw", `sha256sum local/in/good.tgz`, artifact(srv.URL+"/good.tgz", M{"checksum": sha(good), "archive": "false"}, "local/in")))
		al := a.waitAlloc("art-raw", 20*time.Second, done)
		if out := a.logs(al["ID"].(string), "build", "stdout", ""); al["ClientStatus"] != "complete" || out != strings.TrimPrefix(sha(good), "sha256:")+"  local/in/good.tgz\n" {
			t.Errorf("%s %q", summarize(al), out)
		}
		if got := lsDir(t, filepath.Join(a.dir, "alloc", al["ID"].(string), "build", "local", "in")); !slices.Equal(got, []string{fmt.Sprintf("-rw-r--r-- %d good.tgz", len(good))}) {
			t.Errorf("in/: %q", got)
		}
	})
	t.Run("zip, md5, default destination", func(t *testing.T) {
		t.Parallel()
		m := md5.Sum(zipped)
		a.register(withArtifacts("art-zip", `local/z/tool; stat -c %a local/z/data`, M{"GetterSource": srv.URL + "/tools.zip", "GetterOptions": M{"checksum": "md5:" + hex.EncodeToString(m[:])}}))
		al := a.waitAlloc("art-zip", 20*time.Second, done)
		if out := a.logs(al["ID"].(string), "build", "stdout", ""); al["ClientStatus"] != "complete" || out != "zip-ok\n600\n" {
			t.Errorf("%s %q", summarize(al), out)
		}
	})

	// A failure: the event with Nomad's words, Not Restarting, the task failed
	// and never started, the allocation failed, the poststop task still runs.
	failed := func(t *testing.T, id string, arts ...M) (M, string) {
		t.Helper()
		tk := task("build", "echo should-not-run", "prestart")
		tk["Artifacts"] = arts
		a.register(batchJob(id, tk, task("test-0", "true", ""), task("publish", "echo publish-ran", "poststop")))
		al := a.waitAlloc(id, 20*time.Second, done)
		ts := taskStates(al)["build"]
		if got := eventTypes(al, "build"); !slices.Equal(got, []string{"Received", "Task Setup", "Downloading Artifacts", "Failed Artifact Download", "Not Restarting"}) ||
			al["ClientStatus"] != "failed" || ts["Failed"] != true || started(al, "build") {
			t.Errorf("%s", summarize(al))
		}
		if out := a.logs(al["ID"].(string), "publish", "stdout", ""); out != "publish-ran\n" {
			t.Errorf("poststop: %q", out)
		}
		e := lastEvent(al, "build", "Failed Artifact Download")
		msg, _ := e["DisplayMessage"].(string)
		if e["DownloadError"] != msg || e["Details"].(map[string]any)["download_error"] != msg || e["FailsTask"] != false {
			t.Errorf("event %v", e)
		}
		if nr := lastEvent(al, "build", "Not Restarting"); nr["DisplayMessage"] != "Policy allows no restarts" {
			t.Errorf("not restarting: %v", nr)
		}
		return al, msg
	}
	t.Run("bad checksum", func(t *testing.T) {
		t.Parallel()
		al, msg := failed(t, "art-badsum", artifact(srv.URL+"/good.tgz", M{"checksum": "sha256:" + strings.Repeat("0", 64)}, "local/src"))
		re := regexp.MustCompile(`^failed to download artifact "` + regexp.QuoteMeta(srv.URL) + `/good.tgz": getter subprocess failed: exit status 1: failed to download artifact: ` +
			`Checksums did not match for ` + regexp.QuoteMeta(filepath.Join(a.dir, "alloc", al["ID"].(string), "build", "tmp")) + `/getter[0-9]+/archive\.\n` +
			`Expected: 0{64}\nGot: ` + strings.TrimPrefix(sha(good), "sha256:") + `\n\*sha256\.Digest$`)
		if !re.MatchString(msg) {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("404", func(t *testing.T) {
		t.Parallel()
		_, msg := failed(t, "art-404", artifact(srv.URL+"/nope.tgz", nil, "local/src"))
		if want := `failed to download artifact "` + srv.URL + `/nope.tgz": getter subprocess failed: exit status 1: failed to download artifact: bad response code: 404`; msg != want {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("entry with ..", func(t *testing.T) {
		t.Parallel()
		al, msg := failed(t, "art-escape", artifact(srv.URL+"/hostile.tgz", M{"checksum": sha(hostile)}, "local/src"))
		if want := `failed to download artifact "` + srv.URL + `/hostile.tgz": getter subprocess failed: exit status 1: failed to download artifact: entry contains '..': ../escape.txt`; msg != want {
			t.Errorf("message %q", msg)
		}
		for _, p := range []string{"local/escape.txt", "escape.txt", "local/src/escape.txt"} {
			if _, err := os.Stat(filepath.Join(a.dir, "alloc", al["ID"].(string), "build", p)); err == nil {
				t.Errorf("%s was written", p)
			}
		}
	})
	t.Run("a link left in alloc/ by another task", func(t *testing.T) {
		t.Parallel()
		outside := t.TempDir()
		// The prestart task plants a link to a host directory; the next task's
		// artifact must not follow it out of the allocation.
		plant := task("plant", `ln -s `+outside+` "$NOMAD_ALLOC_DIR/data/evil"`, "prestart")
		victim := task("build", "true", "")
		victim["Artifacts"] = []M{artifact(srv.URL+"/good.tgz", nil, "../alloc/data/evil/x")}
		a.register(batchJob("art-link", plant, victim))
		al := a.waitAlloc("art-link", 20*time.Second, done)
		e := lastEvent(al, "build", "Failed Artifact Download")
		if al["ClientStatus"] != "failed" || e == nil || !strings.Contains(e["DownloadError"].(string), "escapes") {
			t.Errorf("%s %v", summarize(al), e)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Errorf("written outside the allocation: %v", ents)
		}
	})
	t.Run("restart policy retries a failed download", func(t *testing.T) {
		t.Parallel()
		srv.mu.Lock()
		srv.flaky["/flaky.tgz"] = true
		srv.mu.Unlock()
		job := withArtifacts("art-retry", "cat local/a.txt", artifact(srv.URL+"/flaky.tgz", nil, "local"))
		job["TaskGroups"].([]M)[0]["RestartPolicy"] = M{"Attempts": 1, "Mode": "fail", "Delay": int64(100 * time.Millisecond), "Interval": int64(time.Hour)}
		a.register(job)
		al := a.waitAlloc("art-retry", 20*time.Second, done)
		want := []string{"Received", "Task Setup", "Downloading Artifacts", "Failed Artifact Download", "Restarting", "Downloading Artifacts", "Started", "Terminated"}
		if got := eventTypes(al, "build"); !slices.Equal(got, want) || al["ClientStatus"] != "complete" || a.logs(al["ID"].(string), "build", "stdout", "") != "alpha" {
			t.Errorf("%s", summarize(al))
		}
	})
	t.Run("a stop during the download", func(t *testing.T) {
		t.Parallel()
		a.register(batchJob("art-stop", func() M {
			tk := task("build", "true", "")
			tk["Artifacts"] = []M{artifact(srv.URL+"/hang", nil, "local")}
			return tk
		}(), task("publish", "echo publish-ran", "poststop")))
		select {
		case <-srv.hanging:
		case <-time.After(10 * time.Second):
			t.Fatal("the download never started")
		}
		a.do("DELETE", "/v1/job/art-stop", nil)
		al := a.waitAlloc("art-stop", 10*time.Second, done)
		if got := eventTypes(al, "build"); !slices.Equal(got, []string{"Received", "Task Setup", "Downloading Artifacts", "Killing"}) ||
			taskStates(al)["build"]["Failed"] != false || started(al, "build") || a.logs(al["ID"].(string), "publish", "stdout", "") != "publish-ran\n" {
			t.Errorf("%s", summarize(al))
		}
	})
}

// TestArtifactValidation: what Nomad refuses at register, and what
// nomadlite's getter cannot do, refused then rather than failing later.
func TestArtifactValidation(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	cases := []struct {
		art  M
		want string
	}{
		{M{"GetterSource": ""}, "Artifact 1 validation failed: 1 error occurred:\n\t* source must be specified"},
		{M{"GetterSource": "http://x/a", "RelativeDest": "../../etc"}, "destination escapes allocation directory"},
		{M{"GetterSource": "http://x/a", "GetterMode": "sometimes"}, `invalid artifact mode "sometimes"; must be one of: any, file, dir`},
		{M{"GetterSource": "http://x/a", "GetterOptions": M{"checksum": "sha256:abcd"}}, "invalid sha256 checksum: abcd"},
		{M{"GetterSource": "http://x/a", "GetterOptions": M{"checksum": "crc:00"}}, "unsupported checksum type: crc"},
		{M{"GetterSource": "http://x/a", "GetterOptions": M{"checksum": "file:http://x/sums"}}, `checksum must be given as "type:value"`},
		{M{"GetterSource": "git::https://example.com/repo.git"}, `nomadlite fetches http and https artifacts only, not "git::https://example.com/repo.git"`},
		{M{"GetterSource": "s3://bucket/a.tgz"}, "nomadlite fetches http and https artifacts only"},
		{M{"GetterSource": "https://x/a.tar.xz"}, `nomadlite cannot unpack "tar.xz" archives`},
		{M{"GetterSource": "https://x/dir/"}, "nomadlite cannot fetch an HTTP directory"},
		{M{"GetterSource": "https://x/a", "Chown": true}, "nomadlite does not implement the artifact field Chown"},
	}
	for i, c := range cases {
		job := withArtifacts(fmt.Sprintf("art-bad-%d", i), "true", c.art)
		code, _, b := a.do("PUT", "/v1/jobs", M{"Job": job})
		if code != 500 || !strings.Contains(string(b), c.want) {
			t.Errorf("%v: %d %q, want %q", c.art, code, b, c.want)
		}
	}
	// Fine: an xz archive kept as it is, an interpolated source, a directory unpacked from an archive.
	for i, art := range []M{
		{"GetterSource": "https://x/a.tar.xz", "GetterOptions": M{"archive": "false"}},
		{"GetterSource": "${NOMAD_META_src}"},
		{"GetterSource": "https://x/a.tgz", "GetterMode": "dir"},
		{"GetterSource": "https://x/a.tgz", "GetterOptions": M{"checksum": "sha512:" + strings.Repeat("ab", 64)}},
	} {
		code, _, b := a.do("PUT", "/v1/validate/job", M{"Job": withArtifacts(fmt.Sprintf("art-fine-%d", i), "true", art)})
		if code != 200 || !strings.Contains(string(b), `"ValidationErrors":[]`) {
			t.Errorf("%v: %d %s", art, code, b)
		}
	}
}

// TestDockerArtifact: the artifact lands in the host's task dir before the
// image is pulled, and the container finds it under /local.
func TestDockerArtifact(t *testing.T) {
	t.Parallel()
	a, registry := startDockerAgent(t)
	image := testImage(t, registry, "nomadlite-test/busybox")
	arch := tgz(t, entry{"hello.sh", "file", "#!/bin/sh\necho hello-from-artifact\n", 0o755})
	srv := newArtifactServer(t, map[string][]byte{"/src.tgz": arch})
	tk := dtask("build", image, `/local/src/hello.sh; ls -ln /local/raw`, "")
	tk["User"] = "65534"
	tk["Artifacts"] = []M{artifact(srv.URL+"/src.tgz", M{"checksum": sha(arch)}, "local/src"),
		artifact(srv.URL+"/src.tgz", M{"archive": "false"}, "local/raw")}
	a.register(batchJob("docker-art", tk))
	al := a.waitAlloc("docker-art", 60*time.Second, done)
	if got := eventTypes(al, "build"); al["ClientStatus"] != "complete" || !slices.Equal(got, []string{"Received", "Task Setup", "Downloading Artifacts", "Driver", "Started", "Terminated"}) {
		t.Fatalf("%s", summarize(al))
	}
	out := a.logs(al["ID"].(string), "build", "stdout", "")
	if !strings.HasPrefix(out, "hello-from-artifact\n") || !regexp.MustCompile(`-rw-r--r-- +1 0 +0 +\d+ .* src.tgz`).MatchString(out) {
		t.Errorf("stdout %q", out)
	}
}
