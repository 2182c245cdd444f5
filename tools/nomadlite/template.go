package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/hashicorp/nomad/api"
)

// missingVarError is consul-template's report of a variable that does not
// exist (yet): the task waits for it rather than failing.
type missingVarError struct{ path string }

func (e *missingVarError) Error() string {
	return fmt.Sprintf("Missing: nomad.var.block(%s@default.global)", e.path)
}

// templateFuncs is the subset of consul-template's functions nomadlite
// offers: nomadVar (the variable's Items as a map), nomadVarExists, env,
// toJSON, base64Encode/Decode and a few string helpers.
func (s *Server) templateFuncs(env map[string]string) template.FuncMap {
	return template.FuncMap{
		"nomadVar": func(path string) (map[string]string, error) {
			var out map[string]string
			s.st.locked(func() {
				if v := s.st.Vars[strings.TrimPrefix(path, "/")]; v != nil {
					out = make(map[string]string, len(v.Items))
					for k, x := range v.Items {
						out[k] = x
					}
				}
			})
			if out == nil {
				return nil, &missingVarError{path}
			}
			return out, nil
		},
		"nomadVarExists": func(path string) bool {
			return lockedValue(s.st, func() bool { return s.st.Vars[strings.TrimPrefix(path, "/")] != nil })
		},
		"env": func(k string) string { return env[k] },
		"toJSON": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"base64Encode": func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) },
		"base64Decode": func(v string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(v)
			return string(b), err
		},
		"toUpper":    strings.ToUpper,
		"toLower":    strings.ToLower,
		"trimSpace":  strings.TrimSpace,
		"split":      func(sep, v string) []string { return strings.Split(v, sep) },
		"join":       func(sep string, v []string) string { return strings.Join(v, sep) },
		"replaceAll": func(from, to, v string) string { return strings.ReplaceAll(v, from, to) },
		"contains":   func(sub, v string) bool { return strings.Contains(v, sub) },
	}
}

// parseTemplate parses with the same delimiters and functions used at render
// time (functions are stubs here: only the syntax is checked).
func parseTemplate(t *api.Template, funcs template.FuncMap) (*template.Template, error) {
	left, right := deref(t.LeftDelim), deref(t.RightDelim)
	if left == "" {
		left = "{{"
	}
	if right == "" {
		right = "}}"
	}
	return template.New(deref(t.DestPath)).Delims(left, right).Option("missingkey=zero").Funcs(funcs).Parse(templateText(t))
}

func templateText(t *api.Template) string {
	if deref(t.EmbeddedTmpl) == "" && deref(t.SourcePath) != "" {
		b, err := os.ReadFile(deref(t.SourcePath))
		if err == nil {
			return string(b)
		}
	}
	return deref(t.EmbeddedTmpl)
}

var stubServer = &Server{st: newState(os.TempDir())}

func validateTemplate(t *api.Template) error {
	if deref(t.EmbeddedTmpl) == "" && deref(t.SourcePath) == "" {
		return fmt.Errorf("Must specify a source path or have an embedded template")
	}
	if deref(t.DestPath) == "" {
		return fmt.Errorf("Must specify a destination for the template")
	}
	if p := deref(t.Perms); p != "" {
		if _, err := strconv.ParseUint(p, 8, 32); err != nil {
			return fmt.Errorf("Failed to parse %q as octal: %v", p, err)
		}
	}
	if _, err := parseTemplate(t, stubServer.templateFuncs(nil)); err != nil {
		return fmt.Errorf("template parse error: %v", err)
	}
	return nil
}

// renderTemplates writes each template under the task dir and returns the
// variables of those marked Envvars; a variable that does not exist is a
// *missingVarError.
func (ar *allocRunner) renderTemplates(t *api.Task, taskDir string, env map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, tm := range t.Templates {
		tpl, err := parseTemplate(tm, ar.s.templateFuncs(env))
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, nil); err != nil {
			return nil, err
		}
		dest := filepath.Join(taskDir, deref(tm.DestPath))
		if rel, err := filepath.Rel(ar.dir, dest); err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("template destination %q escapes the allocation directory", deref(tm.DestPath))
		}
		perms := os.FileMode(0o644)
		if p, err := strconv.ParseUint(deref(tm.Perms), 8, 32); err == nil && deref(tm.Perms) != "" {
			perms = os.FileMode(p)
		}
		if !ar.s.secrets.enforced() && inSecrets(ar.dir, dest) {
			perms &^= 0o111
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o777); err != nil {
			return nil, err
		}
		if err := os.WriteFile(dest, buf.Bytes(), perms); err != nil {
			return nil, err
		}
		_ = os.Chmod(dest, perms)
		if tm.Uid != nil || tm.Gid != nil {
			// Nomad renders as root and hands the file to Uid/Gid when set
			// (scenario docker-driver); -1 leaves one of them as it is.
			uid, gid := -1, -1
			if tm.Uid != nil {
				uid = *tm.Uid
			}
			if tm.Gid != nil {
				gid = *tm.Gid
			}
			if err := os.Chown(dest, uid, gid); err != nil {
				return nil, err
			}
		}
		if deref(tm.Envvars) {
			for k, v := range parseEnvFile(buf.String()) {
				out[k] = v
			}
		}
	}
	return out, nil
}

// parseEnvFile reads KEY=VALUE lines (blank lines, # comments and an
// "export " prefix allowed; surrounding quotes removed).
func parseEnvFile(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			if uq, err := strconv.Unquote(v); err == nil && v[0] == '"' {
				v = uq
			} else {
				v = v[1 : len(v)-1]
			}
		}
		out[k] = v
	}
	return out
}
