package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Not parallel: it counts the agent's log-streaming goroutines, which other
// tests' streams would add to.
func TestFollowDeadTaskStaysOpen(t *testing.T) {
	a := startAgent(t, "")
	a.register(batchJob("fdead", task("test-0", "echo only-line", "")))
	id := a.waitAlloc("fdead", 5*time.Second, done)["ID"].(string)
	logFile := filepath.Join(a.dir, "alloc", id, "alloc", "logs", "test-0.stdout.0")
	want := loadText(t, "follow-dead-task", "followed.txt")
	for _, plain := range []bool{true, false} {
		q := "?task=test-0&type=stdout&follow=true&origin=start&offset=0"
		if plain {
			q += "&plain=true"
		}
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", a.http.URL+"/v1/client/fs/logs/"+id+q, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		chunks, ended := make(chan []byte, 16), make(chan struct{})
		go func() {
			defer close(ended)
			for {
				buf := make([]byte, 4096)
				n, err := resp.Body.Read(buf)
				if n > 0 {
					chunks <- buf[:n]
				}
				if err != nil {
					return
				}
			}
		}()
		var got []byte
		for wait := time.After(time.Second); wait != nil; {
			select {
			case c := <-chunks:
				got = append(got, c...)
			case <-ended:
				t.Fatalf("plain=%v: the stream of a dead task ended by itself after %q", plain, got)
			case <-wait:
				wait = nil
			}
		}
		if text := followedText(t, got, plain); text != want {
			t.Errorf("plain=%v: followed %q, recorded %q", plain, text, want)
		}
		cancel()
		resp.Body.Close()
		<-ended
		// Once the caller is gone, so are the handler and its file.
		deadline := time.Now().Add(2 * time.Second)
		for handlerLive() || fileOpen(logFile) {
			if time.Now().After(deadline) {
				t.Fatalf("plain=%v: follow handler still live (%v) or log file still open (%v) after the caller left", plain, handlerLive(), fileOpen(logFile))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func followedText(t *testing.T, got []byte, plain bool) string {
	if plain {
		return string(got)
	}
	var text string
	dec := json.NewDecoder(strings.NewReader(string(got)))
	for dec.More() {
		var f struct{ Data string }
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("frames %q: %v", got, err)
		}
		b, _ := base64.StdEncoding.DecodeString(f.Data)
		text += string(b)
	}
	return text
}

func handlerLive() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*Server).fsLogs")
}

func fileOpen(path string) bool {
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if l, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); l == path {
			return true
		}
	}
	return false
}

func TestClientFS(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	a.register(batchJob("fs", task("test-0", `mkdir -p "$NOMAD_ALLOC_DIR/out/sub"; printf one > "$NOMAD_ALLOC_DIR/out/a"; echo '{}' > "$NOMAD_ALLOC_DIR/out/r.json"; echo s3cret > secrets/token`, "")))
	id := a.waitAlloc("fs", 5*time.Second, done)["ID"].(string)
	var ls []M
	if code := a.getJSON("/v1/client/fs/ls/"+id+"?path=alloc/out", &ls); code != 200 || len(ls) != 3 {
		t.Fatalf("ls: %d %v", code, ls)
	}
	if ls[0]["Name"] != "a" || ls[0]["Size"] != float64(3) || ls[0]["IsDir"] != false || ls[2]["Name"] != "sub" || ls[2]["IsDir"] != true ||
		!strings.HasPrefix(ls[2]["FileMode"].(string), "d") || ls[1]["ContentType"] != "" {
		t.Errorf("ls entries: %v", ls)
	}
	var root []M
	if a.getJSON("/v1/client/fs/ls/"+id, &root); len(root) != 2 {
		t.Errorf("ls of the alloc root: %v", root)
	}
	for path, want := range map[string]string{"alloc/out/a": "text/plain; charset=utf-8", "alloc/out/r.json": "application/json", "alloc/out/sub": "application/octet-stream"} {
		var st M
		if code := a.getJSON("/v1/client/fs/stat/"+id+"?path="+path, &st); code != 200 || st["ContentType"] != want {
			t.Errorf("stat %s: %d %v", path, code, st)
		}
	}
	for _, c := range []struct{ path, want string }{
		{"/v1/client/fs/ls/" + id + "?path=../..", "Path escapes the alloc directory"},
		{"/v1/client/fs/stat/" + id, "must provide a file name"},
		{"/v1/client/fs/stat/00000000-0000-0000-0000-000000000000?path=alloc", `Unknown allocation "00000000-0000-0000-0000-000000000000"`},
		{"/v1/client/fs/ls/00000000-0000-0000-0000-000000000000", `Unknown allocation "00000000-0000-0000-0000-000000000000"`},
	} {
		if code, _, b := a.do("GET", c.path, nil); code < 400 || string(b) != c.want {
			t.Errorf("%s: %d %s", c.path, code, b)
		}
	}
	// Nomad's cat never serves secrets, and words even that failure in a 200.
	if code, _, b := a.do("GET", "/v1/client/fs/cat/"+id+"?path=test-0/secrets/token", nil); code != 200 || string(b) != "Reading secret file prohibited: test-0/secrets/token" {
		t.Errorf("cat of a secret: %d %s", code, b)
	}
}

// LogConfig.Disabled, as Nomad 2.0.5 does it (seen there): no log files, the
// task's output to /dev/null, and the logs API serves what the task wrote to
// alloc/logs itself.
func TestLogsDisabledTaskWritesItsOwn(t *testing.T) {
	a := startAgent(t, "")
	own := task("own", `echo lost; exec >>"$NOMAD_ALLOC_DIR/logs/own.stdout.0"; echo kept`, "")
	own["LogConfig"] = M{"Disabled": true}
	a.register(batchJob("logsoff", own))
	id := a.waitAlloc("logsoff", 5*time.Second, done)["ID"].(string)
	logs := filepath.Join(a.dir, "alloc", id, "alloc", "logs")
	entries, err := os.ReadDir(logs)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(logs); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o777 {
		t.Errorf("alloc/logs has mode %v, want 0777 (any task user writes its log there)", st.Mode().Perm())
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "own.stdout.0" {
		t.Errorf("log files %v, want only the one the task wrote", names)
	}
	resp, err := http.Get(a.http.URL + "/v1/client/fs/logs/" + id + "?task=own&type=stdout&plain=true&origin=start")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(strings.Builder)
	if _, err := io.Copy(body, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body.String() != "kept\n" {
		t.Errorf("logs API: %d %q, want 200 \"kept\\n\"", resp.StatusCode, body.String())
	}
	// The stream it wrote no file for: Nomad's 404.
	resp, err = http.Get(a.http.URL + "/v1/client/fs/logs/" + id + "?task=own&type=stderr&plain=true&origin=start")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	missing, _ := io.ReadAll(resp.Body)
	if want := `log entry for task "own" and log type "stderr" not found`; resp.StatusCode != 404 || string(missing) != want {
		t.Errorf("logs API for a stream without a file: %d %q, want 404 %q", resp.StatusCode, missing, want)
	}
}
