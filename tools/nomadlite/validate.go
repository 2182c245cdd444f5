package main

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/nomad/api"
)

// validateJob runs the structural checks Nomad's server makes on register
// (structs.Job.Validate and friends), with Nomad's wording, plus a parse of
// each template (Nomad only finds a broken template on the client; refusing it
// up front keeps a broken job from being created at all).
func validateJob(j *api.Job) *multierror.Error {
	var mErr multierror.Error
	id := deref(j.ID)
	if id == "" {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing job ID"))
	} else if strings.Contains(id, " ") {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Job ID contains a space"))
	} else if strings.Contains(id, "\000") {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Job ID contains a null character"))
	}
	if deref(j.Name) == "" {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing job name"))
	}
	switch deref(j.Type) {
	case "batch", "service", "sysbatch", "system":
	case "":
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing job type"))
	default:
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Invalid job type: %q", deref(j.Type)))
	}
	if p := deref(j.Priority); p < 1 || p > 100 {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Job priority must be between [1, 100]"))
	}
	if len(j.Datacenters) == 0 {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing job datacenters"))
	}
	if len(j.TaskGroups) == 0 {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing job task groups"))
	}
	for idx, c := range j.Constraints {
		if err := validateConstraint(c); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Constraint %d validation failed: %s", idx+1, err))
		}
	}
	mErr.Errors = append(mErr.Errors, validateAffinities(j.Affinities)...)
	groups := map[string]int{}
	for idx, tg := range j.TaskGroups {
		name := deref(tg.Name)
		if name == "" {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Job task group %d missing name", idx+1))
		} else if existing, ok := groups[name]; ok {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Job task group %d redefines '%s' from group %d", idx+1, name, existing+1))
		} else {
			groups[name] = idx
		}
	}
	for _, tg := range j.TaskGroups {
		if err := validateGroup(tg); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Task group %s validation failed: %v", deref(tg.Name), err))
		}
	}
	if len(mErr.Errors) == 0 {
		return nil
	}
	return &mErr
}

func validateGroup(tg *api.TaskGroup) error {
	var mErr multierror.Error
	if tg.Count != nil && *tg.Count < 0 {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Task group count can't be negative"))
	}
	if len(tg.Tasks) == 0 {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing tasks for task group"))
	}
	for idx, c := range tg.Constraints {
		if err := validateConstraint(c); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Constraint %d validation failed: %s", idx+1, err))
		}
	}
	mErr.Errors = append(mErr.Errors, validateAffinities(tg.Affinities)...)
	tasks := map[string]int{}
	for idx, t := range tg.Tasks {
		if t.Name == "" {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Task %d missing name", idx+1))
		} else if existing, ok := tasks[t.Name]; ok {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Task %d redefines '%s' from task %d", idx+1, t.Name, existing+1))
		} else {
			tasks[t.Name] = idx
		}
	}
	for _, t := range tg.Tasks {
		for idx, vm := range t.VolumeMounts {
			if name := deref(vm.Volume); name == "" {
				mErr.Errors = append(mErr.Errors, fmt.Errorf("Task %s has a volume mount (%d) referencing an empty volume", t.Name, idx))
			} else if tg.Volumes[name] == nil {
				mErr.Errors = append(mErr.Errors, fmt.Errorf("Task %s has a volume mount (%d) referencing undefined volume %s", t.Name, idx, name))
			}
		}
	}
	for _, t := range tg.Tasks {
		if err := validateTask(t); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Task %s validation failed: %s", t.Name, err))
		}
	}
	return mErr.ErrorOrNil()
}

func validateTask(t *api.Task) error {
	var mErr multierror.Error
	if t.Name == "" {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing task name"))
	}
	if strings.ContainsAny(t.Name, "/\000") {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Task name cannot include slashes or null characters"))
	}
	if t.Driver == "" {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("Missing task driver"))
	}
	if t.KillTimeout != nil && *t.KillTimeout < 0 {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("KillTimeout must be a positive value"))
	}
	if t.Lifecycle != nil {
		switch t.Lifecycle.Hook {
		case "prestart", "poststart", "poststop":
		case "":
			mErr.Errors = append(mErr.Errors, fmt.Errorf("no lifecycle hook provided"))
		default:
			mErr.Errors = append(mErr.Errors, fmt.Errorf("invalid hook: %v", t.Lifecycle.Hook))
		}
	}
	for idx, c := range t.Constraints {
		if err := validateConstraint(c); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Constraint %d validation failed: %s", idx+1, err))
		}
	}
	for idx, tmpl := range t.Templates {
		if err := validateTemplate(tmpl); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Template %d validation failed: %s", idx+1, err))
		}
	}
	for idx, a := range t.Artifacts {
		if err := validateArtifact(a); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Artifact %d validation failed: %v", idx+1, err))
		}
	}
	return mErr.ErrorOrNil()
}

// validateArtifact is Nomad's TaskArtifact.Validate (source, mode, a
// destination that stays in the allocation, the checksum's form), plus what
// nomadlite's getter cannot do, refused here rather than failing on the
// client: sources other than http(s), xz/zstd archives, HTTP directories,
// chown. Values with ${…} are only known on the client, where they are
// checked again.
func validateArtifact(a *api.TaskArtifact) error {
	var mErr multierror.Error
	src := deref(a.GetterSource)
	if src == "" {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("source must be specified"))
	}
	mode := deref(a.GetterMode)
	switch mode {
	case "", "any", "file", "dir":
	default:
		mErr.Errors = append(mErr.Errors, fmt.Errorf("invalid artifact mode %q; must be one of: any, file, dir", mode))
	}
	dest := filepath.Join("/alloc-dir/alloc-id", "task", deref(a.RelativeDest))
	if rel, err := filepath.Rel("/alloc-dir/alloc-id", dest); err != nil {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("invalid destination path: %v", err))
	} else if strings.HasPrefix(rel, "..") {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("destination escapes allocation directory"))
	}
	if err := validateChecksum(a.GetterOptions); err != nil {
		mErr.Errors = append(mErr.Errors, err)
	}
	if a.Chown {
		mErr.Errors = append(mErr.Errors, unimplemented("artifact", "Chown"))
	}
	if src != "" && !strings.Contains(src, "${") {
		u, err := url.Parse(src)
		switch {
		case err != nil || u.Scheme != "http" && u.Scheme != "https":
			mErr.Errors = append(mErr.Errors, fmt.Errorf("nomadlite fetches http and https artifacts only, not %q", src))
		case !strings.Contains(a.GetterOptions["archive"], "${"):
			archiveOpt := u.Query().Get("archive")
			if v, ok := a.GetterOptions["archive"]; ok {
				archiveOpt = v
			}
			name, dec, ok := archiveOf(archiveOpt, u.Path)
			if !ok {
				mErr.Errors = append(mErr.Errors, fmt.Errorf("nomadlite cannot unpack %q archives (xz and zstd are not in Go's standard library): set the option archive = \"false\" and unpack it in the task", name))
			} else if dec == nil && (mode == "dir" || mode != "file" && strings.HasSuffix(u.Path, "/")) {
				mErr.Errors = append(mErr.Errors, fmt.Errorf("nomadlite cannot fetch an HTTP directory (go-getter's X-Terraform-Get protocol): %s", src))
			}
		}
	}
	return mErr.ErrorOrNil()
}

// validateChecksum is Nomad's TaskArtifact.validateChecksum: "type:hex" of
// a known type and the right length, unless it is interpolated.
func validateChecksum(opts map[string]string) error {
	check, ok := opts["checksum"]
	if !ok || strings.Contains(check, "${") {
		return nil
	}
	check = strings.TrimSpace(check)
	if check == "" {
		return fmt.Errorf("checksum value cannot be empty")
	}
	parts := strings.Split(check, ":")
	if len(parts) != 2 {
		return fmt.Errorf(`checksum must be given as "type:value"; got %q`, check)
	}
	b, err := hex.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("invalid checksum: %v", err)
	}
	size := map[string]int{"md5": md5.Size, "sha1": sha1.Size, "sha256": sha256.Size, "sha512": sha512.Size}[parts[0]]
	if size == 0 {
		return fmt.Errorf("unsupported checksum type: %s", parts[0])
	}
	if len(b) != size {
		return fmt.Errorf("invalid %s checksum: %v", parts[0], parts[1])
	}
	return nil
}

// unimplementedErrors names every field of the job that nomadlite cannot run.
// Registration refuses them; /v1/validate/job, which says whether Nomad would
// accept the job (the server jobspec's test asks it), does not.
func unimplementedErrors(j *api.Job) error {
	var mErr multierror.Error
	for _, f := range unimplementedJobFields(j) {
		mErr.Errors = append(mErr.Errors, unimplemented("job", f))
	}
	for _, tg := range j.TaskGroups {
		for _, f := range unimplementedGroupFields(tg) {
			mErr.Errors = append(mErr.Errors, unimplemented("group", f))
		}
		for _, t := range tg.Tasks {
			for _, f := range unimplementedTaskFields(t) {
				mErr.Errors = append(mErr.Errors, fmt.Errorf("Task %s: %w", t.Name, unimplemented("task", f)))
			}
		}
	}
	return mErr.ErrorOrNil()
}

// unimplemented refuses a field nomadlite would otherwise ignore: a job that
// needs it would run here without it and behave differently on Nomad.
func unimplemented(where, field string) error {
	return fmt.Errorf("nomadlite does not implement the %s field %s: refused rather than ignored (see tools/nomadlite/README.md)", where, field)
}

// The fields of a job, group and task that nomadlite does not implement, when
// set (present and not zero). Fields it implements, or that change nothing
// here (update and migrate strategies, EphemeralDisk), or that it implements in part as the
// README says (LogConfig, ReschedulePolicy, template change modes) are
// accepted. Defaults the server fills in (Identity, Resources) pass.
func unimplementedJobFields(j *api.Job) []string {
	var out []string
	if j.Periodic != nil {
		out = append(out, "Periodic")
	}
	if j.ParameterizedJob != nil {
		out = append(out, "ParameterizedJob")
	}
	if j.Multiregion != nil {
		out = append(out, "Multiregion")
	}
	if len(j.Spreads) > 0 {
		out = append(out, "Spreads")
	}
	return out
}

func unimplementedGroupFields(tg *api.TaskGroup) []string {
	var out []string
	if len(tg.Networks) > 0 {
		out = append(out, "Networks")
	}
	if len(tg.Services) > 0 {
		out = append(out, "Services")
	}
	if deref(tg.ShutdownDelay) > 0 {
		out = append(out, "ShutdownDelay")
	}
	if deref(tg.MaxRunDuration) > 0 {
		out = append(out, "MaxRunDuration")
	}
	if tg.Scaling != nil {
		out = append(out, "Scaling")
	}
	if tg.Consul != nil {
		out = append(out, "Consul")
	}
	if len(tg.Spreads) > 0 {
		out = append(out, "Spreads")
	}
	if d := tg.Disconnect; d != nil {
		if d.StopOnClientAfter != nil {
			out = append(out, "Disconnect.StopOnClientAfter")
		}
		if deref(d.Replace) && deref(d.LostAfter) > 0 {
			// Replacing an allocation while it is unknown, then reconciling
			// the two when its node is back, is not modelled.
			out = append(out, "Disconnect.Replace")
		}
	}
	return out
}

func unimplementedTaskFields(t *api.Task) []string {
	var out []string
	set := func(name string, isSet bool) {
		if isSet {
			out = append(out, name)
		}
	}
	set("Services", len(t.Services) > 0)
	set("Vault", t.Vault != nil)
	set("Consul", t.Consul != nil)
	set("DispatchPayload", t.DispatchPayload != nil)
	set("CSIPluginConfig", t.CSIPluginConfig != nil)
	set("Leader", t.Leader)
	set("ShutdownDelay", t.ShutdownDelay > 0)
	set("Kind", t.Kind != "")
	set("ScalingPolicies", len(t.ScalingPolicies) > 0)
	set("Secrets", len(t.Secrets) > 0)
	set("Identities", len(t.Identities) > 0)
	set("Actions", len(t.Actions) > 0)
	set("Schedule", t.Schedule != nil)
	if r := t.Resources; r != nil {
		set("Resources.Cores", deref(r.Cores) > 0)
		set("Resources.NUMA", r.NUMA != nil && r.NUMA.Affinity != "" && r.NUMA.Affinity != "none")
		set("Resources.Networks", len(r.Networks) > 0)
	}
	return out
}

func validateConstraint(c *api.Constraint) error {
	switch c.Operand {
	case "", "=", "==", "is", "!=", "not", "<", "<=", ">", ">=", "version", "semver", "regexp",
		"set_contains", "set_contains_all", "set_contains_any", "is_set", "is_not_set", "distinct_hosts", "distinct_property":
	default:
		return fmt.Errorf("Unknown constraint type %q", c.Operand)
	}
	if c.Operand == "regexp" {
		if _, err := compileRegexp(c.RTarget); err != nil {
			return fmt.Errorf("Regular expression failed to compile: %v", err)
		}
	}
	return nil
}

// validateAffinities is Nomad's Affinity.Validate for each, with its words:
// an affinity is a constraint with a weight in [-100,100], never zero.
func validateAffinities(affs []*api.Affinity) []error {
	var out []error
	for idx, a := range affs {
		var errs []string
		if a.Operand == "" {
			errs = append(errs, "Missing affinity operand")
		} else if err := validateConstraint(&api.Constraint{Operand: a.Operand, RTarget: a.RTarget}); err != nil {
			errs = append(errs, strings.Replace(err.Error(), "constraint type", "affinity operator", 1))
		}
		if a.LTarget == "" {
			errs = append(errs, "No LTarget provided but is required")
		}
		switch w := deref(a.Weight); {
		case w == 0:
			errs = append(errs, "Affinity weight cannot be zero")
		case w > 100 || w < -100:
			errs = append(errs, "Affinity weight must be within the range [-100,100]")
		}
		if len(errs) > 0 {
			out = append(out, fmt.Errorf("Affinity %d validation failed: %s", idx+1, strings.Join(errs, "; ")))
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
