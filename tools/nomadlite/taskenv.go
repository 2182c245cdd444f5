package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// taskEnv builds a task's environment as Nomad's taskenv does: for raw_exec
// the agent's own environment (it does not isolate) and the directories' host
// paths; for a driver with an image of its own (docker) nothing of the
// agent's and the paths inside the container; then Nomad's NOMAD_* variables
// and the task's Env with ${...} interpolated.
func (ar *allocRunner) taskEnv(t *api.Task, taskDir string, caps Capabilities) map[string]string {
	env := map[string]string{}
	allocDir, localDir, secretsDir := filepath.Join(ar.dir, "alloc"), filepath.Join(taskDir, "local"), filepath.Join(taskDir, "secrets")
	if caps.FSIsolationImage {
		allocDir, localDir, secretsDir = "/alloc", "/local", "/secrets"
	} else {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	j, tg := ar.job, ar.tg
	allocName := ""
	ar.s.st.locked(func() {
		if a := ar.s.st.Allocs[ar.id]; a != nil {
			allocName = a.Name
		}
	})
	index := "0"
	if i := strings.LastIndex(allocName, "["); i >= 0 && strings.HasSuffix(allocName, "]") {
		index = allocName[i+1 : len(allocName)-1]
	}
	cpu, mem := taskResources(t)
	set := map[string]string{
		"NOMAD_ALLOC_DIR":      allocDir,
		"NOMAD_TASK_DIR":       localDir,
		"NOMAD_SECRETS_DIR":    secretsDir,
		"NOMAD_ALLOC_ID":       ar.id,
		"NOMAD_SHORT_ALLOC_ID": ar.id[:8],
		"NOMAD_ALLOC_NAME":     allocName,
		"NOMAD_ALLOC_INDEX":    index,
		"NOMAD_JOB_ID":         deref(j.ID),
		"NOMAD_JOB_NAME":       deref(j.Name),
		"NOMAD_TASK_NAME":      t.Name,
		"NOMAD_GROUP_NAME":     deref(tg.Name),
		"NOMAD_NAMESPACE":      "default",
		"NOMAD_REGION":         "global",
		"NOMAD_DC":             datacenter,
		"NOMAD_CPU_LIMIT":      strconv.Itoa(cpu),
		"NOMAD_MEMORY_LIMIT":   strconv.Itoa(mem),
	}
	if t.Resources != nil && deref(t.Resources.MemoryMaxMB) > 0 {
		set["NOMAD_MEMORY_MAX_LIMIT"] = strconv.Itoa(deref(t.Resources.MemoryMaxMB))
	}
	if p := deref(j.ParentID); p != "" {
		set["NOMAD_JOB_PARENT_ID"] = p
	}
	for k, v := range ar.meta(t) {
		// Nomad sets the key as written, upper-cased, and with characters
		// that are not valid in a variable name replaced by '_'.
		set["NOMAD_META_"+k] = v
		set["NOMAD_META_"+strings.ToUpper(k)] = v
		set["NOMAD_META_"+cleanEnvVar(k)] = v
		set["NOMAD_META_"+cleanEnvVar(strings.ToUpper(k))] = v
	}
	for k, v := range set {
		env[k] = v
	}
	keys := make([]string, 0, len(t.Env))
	for k := range t.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env[k] = ar.interpolate(t.Env[k], env, t)
	}
	return env
}

var invalidEnvChars = regexp.MustCompile(`[^A-Za-z0-9_]`)

func cleanEnvVar(s string) string { return invalidEnvChars.ReplaceAllString(s, "_") }

// meta merges job, group and task meta (task wins), as Nomad does.
func (ar *allocRunner) meta(t *api.Task) map[string]string {
	m := map[string]string{}
	for k, v := range ar.job.Meta {
		m[k] = v
	}
	for k, v := range ar.tg.Meta {
		m[k] = v
	}
	for k, v := range t.Meta {
		m[k] = v
	}
	return m
}

var interpRe = regexp.MustCompile(`\$\{([^{}]+)\}`)

// interpolate replaces ${NOMAD_*}, ${env var}, ${meta.k}, ${node.*} and
// ${attr.*}; unknown keys stay as written, like Nomad leaves them.
func (ar *allocRunner) interpolate(s string, env map[string]string, t *api.Task) string {
	if !strings.Contains(s, "${") {
		return s
	}
	meta := ar.meta(t)
	return interpRe.ReplaceAllStringFunc(s, func(m string) string {
		key := strings.TrimSpace(m[2 : len(m)-1])
		if k, ok := strings.CutPrefix(key, "meta."); ok {
			if v, ok := meta[k]; ok {
				return v
			}
			return m
		}
		if strings.HasPrefix(key, "NOMAD_") {
			if v, ok := env[key]; ok {
				return v
			}
			return m
		}
		if strings.HasPrefix(key, "node.") || strings.HasPrefix(key, "attr.") {
			if v, ok := ar.s.resolveTarget(ar.node, "${"+key+"}"); ok {
				return v
			}
			return m
		}
		if k, ok := strings.CutPrefix(key, "env."); ok {
			if v, ok := env[k]; ok {
				return v
			}
			return m
		}
		if v, ok := env[key]; ok {
			return v
		}
		return m
	})
}

// interpolateConfig is the task's driver config with ${…} interpolated in
// every string, as Nomad's task runner hands it to the driver.
func (ar *allocRunner) interpolateConfig(v any, env map[string]string, t *api.Task) map[string]any {
	out, _ := ar.interpolateValue(v, env, t).(map[string]any)
	return out
}

func (ar *allocRunner) interpolateValue(v any, env map[string]string, t *api.Task) any {
	switch x := v.(type) {
	case string:
		return ar.interpolate(x, env, t)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ar.interpolateValue(e, env, t)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = ar.interpolateValue(e, env, t)
		}
		return out
	}
	return v
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
