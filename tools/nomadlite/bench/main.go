// Command bench submits N build-like batch jobs to a running nomadlite (or
// Nomad) agent at once, waits for them, checks every allocation ended right
// and prints the agent's peak RSS (VmHWM from /proc/<pid>/status). It is a
// measurement that prints, not a timed assertion.
//
//	go run ./bench -addr http://127.0.0.1:14646 -pid $(pgrep -f 'nomadlite agent' | head -1)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type M = map[string]any

func task(name, script, hook string) M {
	t := M{"Name": name, "Driver": "raw_exec",
		"Config":      M{"command": "/bin/sh", "args": []string{"-c", script}},
		"Resources":   M{"CPU": 100, "MemoryMB": 64},
		"KillTimeout": int64(2 * time.Second)}
	if hook != "" {
		t["Lifecycle"] = M{"Hook": hook, "Sidecar": false}
	}
	return t
}

func main() {
	addr := flag.String("addr", "http://127.0.0.1:4646", "agent address")
	pid := flag.Int("pid", 0, "agent pid (for RSS); 0 = look for a 'nomadlite agent' process")
	n := flag.Int("n", 20, "jobs to submit at once")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after")
	flag.Parse()
	if *pid == 0 {
		*pid = findAgent()
	}
	prefix := fmt.Sprintf("bench-%d-", time.Now().Unix())
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, *n)
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("%s%02d", prefix, i)
			job := M{"ID": id, "Name": id, "Type": "batch", "Datacenters": []string{"*"},
				"Meta": M{"nbs.request": strings.Repeat("x", 4096)},
				"TaskGroups": []M{{"Name": "build", "Count": 1,
					"RestartPolicy":    M{"Attempts": 0, "Mode": "fail"},
					"ReschedulePolicy": M{"Attempts": 0},
					"Tasks": []M{
						task("build", `echo building; head -c 200000 /dev/urandom | base64 > "$NOMAD_ALLOC_DIR/artifact"; sleep 1`, "prestart"),
						task("test-0", `wc -c "$NOMAD_ALLOC_DIR/artifact"; sleep 1`, ""),
						task("test-1", `for i in 1 2 3 4 5; do echo line-$i; sleep 0.2; done`, ""),
						task("publish", `echo published > "$NOMAD_ALLOC_DIR/digest"`, "poststop"),
					}}}}
			if code, b := call("PUT", *addr+"/v1/jobs", M{"Job": job}); code != 200 {
				errs[i] = fmt.Errorf("register %s: %d %s", id, code, b)
			}
		}(i)
	}
	wg.Wait()
	submitted := time.Since(t0)
	peak := 0
	deadline := time.Now().Add(*timeout)
	pending := map[int]bool{}
	for i := 0; i < *n; i++ {
		if errs[i] == nil {
			pending[i] = true
		}
	}
	blockedSeen := 0
	for len(pending) > 0 && time.Now().Before(deadline) {
		peak = max(peak, rssKB(*pid, "VmRSS"))
		for i := range pending {
			id := fmt.Sprintf("%s%02d", prefix, i)
			var allocs []M
			getJSON(*addr+"/v1/job/"+id+"/allocations", &allocs)
			if len(allocs) == 0 {
				var evs []M
				getJSON(*addr+"/v1/job/"+id+"/evaluations", &evs)
				for _, e := range evs {
					if e["Status"] == "blocked" {
						blockedSeen++
						break
					}
				}
				continue
			}
			var a M
			getJSON(*addr+"/v1/allocation/"+allocs[0]["ID"].(string), &a)
			if st, _ := a["ClientStatus"].(string); st == "complete" || st == "failed" || st == "lost" {
				delete(pending, i)
				errs[i] = check(a)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	ok := 0
	for i := 0; i < *n; i++ {
		switch {
		case pending[i]:
			fmt.Printf("job %02d: did not finish in %v\n", i, *timeout)
		case errs[i] != nil:
			fmt.Printf("job %02d: %v\n", i, errs[i])
		default:
			ok++
		}
	}
	for i := 0; i < *n; i++ {
		call("DELETE", fmt.Sprintf("%s/v1/job/%s%02d?purge=true", *addr, prefix, i), nil)
	}
	fmt.Printf("jobs: %d submitted in %v, %d finished right, %d wrong/unfinished, all done after %v (%d blocked-eval observations: capacity queueing)\n",
		*n, submitted.Round(time.Millisecond), ok, *n-ok, elapsed.Round(time.Millisecond), blockedSeen)
	if *pid > 0 {
		fmt.Printf("agent pid %d: peak RSS (VmHWM) %.1f MB, sampled max VmRSS %.1f MB, now %.1f MB\n",
			*pid, float64(rssKB(*pid, "VmHWM"))/1024, float64(peak)/1024, float64(rssKB(*pid, "VmRSS"))/1024)
	} else {
		fmt.Println("agent pid unknown: no RSS figure (pass -pid)")
	}
	if ok != *n {
		os.Exit(1)
	}
}

// check: complete, every task dead, exit 0, poststop ran after the mains.
func check(a M) error {
	if a["ClientStatus"] != "complete" {
		return fmt.Errorf("alloc %v", a["ClientStatus"])
	}
	states, _ := a["TaskStates"].(map[string]any)
	if len(states) != 4 {
		return fmt.Errorf("%d task states", len(states))
	}
	for name, v := range states {
		ts := v.(map[string]any)
		if ts["State"] != "dead" || ts["Failed"] != false {
			return fmt.Errorf("task %s: %v failed=%v", name, ts["State"], ts["Failed"])
		}
	}
	p := states["publish"].(map[string]any)["StartedAt"].(string)
	for _, m := range []string{"test-0", "test-1"} {
		if f := states[m].(map[string]any)["FinishedAt"].(string); f > p {
			return fmt.Errorf("poststop started before %s finished", m)
		}
	}
	return nil
}

func call(method, url string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getJSON(url string, out any) {
	if code, b := call("GET", url, nil); code == 200 {
		_ = json.Unmarshal([]byte(b), out)
	}
}

func rssKB(pid int, field string) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.Atoi(f[0])
				return kb
			}
		}
	}
	return 0
}

func findAgent() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		parts := strings.Split(string(cmd), "\x00")
		if len(parts) > 1 && strings.HasSuffix(parts[0], "nomadlite") && parts[1] == "agent" {
			return pid
		}
	}
	return 0
}
