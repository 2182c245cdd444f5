package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The shape of a job block is read from the `hcl:"..."` tags that Nomad's api package (MPL)
// puts on api.Job and everything below it, the same tags Nomad's own HCL2 parser follows.
// Anything the tags do not name is an error: a misspelt or misplaced argument or block must
// fail the check, not vanish from the job.

// A common subset of the HCL2 functions Nomad jobspecs offer; a jobspec that calls any other
// fails here with "Call to unknown function", so add it when a jobspec needs it.
var functions = map[string]function.Function{
	"coalesce":   stdlib.CoalesceFunc,
	"concat":     stdlib.ConcatFunc,
	"contains":   stdlib.ContainsFunc,
	"format":     stdlib.FormatFunc,
	"join":       stdlib.JoinFunc,
	"jsonencode": stdlib.JSONEncodeFunc,
	"keys":       stdlib.KeysFunc,
	"length":     stdlib.LengthFunc,
	"lookup":     stdlib.LookupFunc,
	"lower":      stdlib.LowerFunc,
	"merge":      stdlib.MergeFunc,
	"replace":    stdlib.ReplaceFunc,
	"split":      stdlib.SplitFunc,
	"trimspace":  stdlib.TrimSpaceFunc,
	"upper":      stdlib.UpperFunc,
	"values":     stdlib.ValuesFunc,
}

var (
	durationType   = reflect.TypeFor[time.Duration]()
	stringMapType  = reflect.TypeFor[map[string]string]()
	anyMapType     = reflect.TypeFor[map[string]any]()
	variableSchema = []string{"type", "default", "description"}
)

type decoder struct{ diags hcl.Diagnostics }

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr(),
	})
}

// parseJobspec reads a Nomad HCL2 jobspec with the given `name=value` variable values into
// the api.Job that Nomad's API takes.
func parseJobspec(file *hcl.File, args []string) (*api.Job, hcl.Diagnostics) {
	d := &decoder{}
	body := file.Body.(*hclsyntax.Body)
	for _, name := range sortedKeys(body.Attributes) {
		d.errorf(body.Attributes[name].NameRange, "Unsupported argument", "A jobspec holds variable and job blocks, not %q.", name)
	}
	var vars, jobs hclsyntax.Blocks
	for _, b := range body.Blocks {
		switch b.Type {
		case "variable":
			vars = append(vars, b)
		case "job":
			jobs = append(jobs, b)
		default:
			d.errorf(b.TypeRange, "Unsupported block type", "Blocks of type %q are not expected here.", b.Type)
		}
	}
	ctx := d.variables(vars, args)
	if len(jobs) != 1 {
		d.errorf(body.SrcRange, "Expected one job block", "A jobspec has exactly one job block, this one has %d.", len(jobs))
	}
	if d.diags.HasErrors() {
		return nil, d.diags
	}
	jb := jobs[0]
	if len(jb.Labels) != 1 {
		d.errorf(jb.TypeRange, "Missing job name", "A job block has one label, its name.")
		return nil, d.diags
	}
	job := &api.Job{}
	d.body(jb.Body, ctx, reflect.ValueOf(job).Elem())
	if job.ID == nil {
		job.ID = &jb.Labels[0]
	}
	if job.Name == nil {
		job.Name = &jb.Labels[0]
	}
	d.normalize(job, jb.DefRange())
	return job, d.diags
}

type variable struct {
	typ      cty.Type
	value    cty.Value
	hasValue bool
	block    *hclsyntax.Block
}

// variables evaluates the variable blocks with the values given on the command line (a
// string variable takes the text as it is, others parse it as an HCL expression, as
// `nomad job run -var` does) and checks their validation blocks.
func (d *decoder) variables(blocks hclsyntax.Blocks, args []string) *hcl.EvalContext {
	decl := map[string]*variable{}
	for _, b := range blocks {
		if len(b.Labels) != 1 {
			d.errorf(b.TypeRange, "Missing variable name", "A variable block has one label, its name.")
			continue
		}
		if _, dup := decl[b.Labels[0]]; dup {
			d.errorf(b.DefRange(), "Duplicate variable", "Variable %q is declared twice.", b.Labels[0])
			continue
		}
		v := &variable{typ: cty.DynamicPseudoType, block: b}
		decl[b.Labels[0]] = v
		for _, name := range sortedKeys(b.Body.Attributes) {
			if !slices.Contains(variableSchema, name) {
				d.errorf(b.Body.Attributes[name].NameRange, "Unsupported argument", "An argument named %q is not expected in a variable block.", name)
			}
		}
		for _, vb := range b.Body.Blocks {
			if vb.Type != "validation" {
				d.errorf(vb.TypeRange, "Unsupported block type", "Blocks of type %q are not expected in a variable block.", vb.Type)
			}
		}
		if a, ok := b.Body.Attributes["type"]; ok {
			t, diags := typeexpr.TypeConstraint(a.Expr)
			d.diags = append(d.diags, diags...)
			v.typ = t
		}
		if a, ok := b.Body.Attributes["default"]; ok {
			val, diags := a.Expr.Value(nil)
			d.diags = append(d.diags, diags...)
			d.assignVariable(v, val, a.Expr.Range())
		}
	}
	for _, arg := range args {
		name, raw, ok := strings.Cut(arg, "=")
		v := decl[name]
		if !ok || v == nil {
			d.errorf(hcl.Range{Filename: "<arguments>"}, "Undeclared variable", "%q does not set a variable the jobspec declares (NAME=VALUE).", arg)
			continue
		}
		rng := hcl.Range{Filename: "<value for var." + name + ">"}
		if v.typ == cty.String || v.typ == cty.DynamicPseudoType {
			d.assignVariable(v, cty.StringVal(raw), rng)
			continue
		}
		expr, diags := hclsyntax.ParseExpression([]byte(raw), rng.Filename, hcl.InitialPos)
		d.diags = append(d.diags, diags...)
		if !diags.HasErrors() {
			val, diags := expr.Value(nil)
			d.diags = append(d.diags, diags...)
			d.assignVariable(v, val, rng)
		}
	}
	values := map[string]cty.Value{}
	for name, v := range decl {
		if !v.hasValue {
			d.errorf(v.block.DefRange(), "Missing variable value", "Variable %q has no default and no value was given.", name)
			v.value = cty.DynamicVal
		}
		values[name] = v.value
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(values)}, Functions: functions}
	if d.diags.HasErrors() {
		return ctx
	}
	for _, name := range sortedKeys(decl) {
		for _, vb := range decl[name].block.Body.Blocks {
			if vb.Type == "validation" {
				d.validation(vb, ctx)
			}
		}
	}
	return ctx
}

func (d *decoder) assignVariable(v *variable, val cty.Value, rng hcl.Range) {
	conv, err := convert.Convert(val, v.typ)
	if err != nil {
		d.errorf(rng, "Invalid value for variable", "%s: %s.", v.block.Labels[0], err)
		return
	}
	v.value, v.hasValue = conv, true
}

func (d *decoder) validation(b *hclsyntax.Block, ctx *hcl.EvalContext) {
	cond, okCond := b.Body.Attributes["condition"]
	msg, okMsg := b.Body.Attributes["error_message"]
	if !okCond || !okMsg || len(b.Body.Attributes) != 2 || len(b.Body.Blocks) != 0 {
		d.errorf(b.DefRange(), "Invalid validation block", "A validation block has exactly a condition and an error_message.")
		return
	}
	val, diags := cond.Expr.Value(ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return
	}
	passed, err := convert.Convert(val, cty.Bool)
	if err != nil || passed.IsNull() || !passed.IsKnown() {
		d.errorf(cond.Expr.Range(), "Invalid validation condition", "The condition must be true or false.")
		return
	}
	if passed.True() {
		return
	}
	text, diags := msg.Expr.Value(ctx)
	d.diags = append(d.diags, diags...)
	if text, err := convert.Convert(text, cty.String); err == nil && !diags.HasErrors() && text.IsKnown() && !text.IsNull() {
		d.errorf(cond.Expr.Range(), "Invalid value for variable", "%s", text.AsString())
	}
}

// block is one block to decode: a literal one, or one generated by a dynamic block, whose
// iterator variable lives in ctx.
type block struct {
	typ    string
	labels []string
	body   *hclsyntax.Body
	ctx    *hcl.EvalContext
	rng    hcl.Range
}

func (d *decoder) expand(blocks hclsyntax.Blocks, ctx *hcl.EvalContext) []block {
	var out []block
	for _, b := range blocks {
		if b.Type == "dynamic" {
			out = append(out, d.dynamic(b, ctx)...)
		} else {
			out = append(out, block{b.Type, b.Labels, b.Body, ctx, b.DefRange()})
		}
	}
	return out
}

// dynamic expands `dynamic "TYPE" { for_each, iterator, labels, content {} }` as HCL's
// dynblock extension defines it.
func (d *decoder) dynamic(b *hclsyntax.Block, ctx *hcl.EvalContext) []block {
	if len(b.Labels) != 1 {
		d.errorf(b.TypeRange, "Invalid dynamic block", "A dynamic block has one label, the type of the blocks it generates.")
		return nil
	}
	for _, name := range sortedKeys(b.Body.Attributes) {
		if !slices.Contains([]string{"for_each", "iterator", "labels"}, name) {
			d.errorf(b.Body.Attributes[name].NameRange, "Unsupported argument", "An argument named %q is not expected in a dynamic block.", name)
		}
	}
	var content *hclsyntax.Block
	for _, cb := range b.Body.Blocks {
		if cb.Type != "content" || len(cb.Labels) != 0 || content != nil {
			d.errorf(cb.DefRange(), "Invalid dynamic block", "A dynamic block holds exactly one content block and nothing else.")
			return nil
		}
		content = cb
	}
	forEach, ok := b.Body.Attributes["for_each"]
	if content == nil || !ok {
		d.errorf(b.DefRange(), "Invalid dynamic block", "A dynamic block needs for_each and a content block.")
		return nil
	}
	iterator := b.Labels[0]
	if it, ok := b.Body.Attributes["iterator"]; ok {
		iterator = hcl.ExprAsKeyword(it.Expr)
		if iterator == "" {
			d.errorf(it.Expr.Range(), "Invalid dynamic iterator", "The iterator is a bare name.")
			return nil
		}
	}
	coll, diags := forEach.Expr.Value(ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	if coll.IsNull() || !coll.IsWhollyKnown() || !coll.CanIterateElements() {
		d.errorf(forEach.Expr.Range(), "Invalid dynamic for_each value", "for_each must be a known list, set, map or object.")
		return nil
	}
	var out []block
	for it := coll.ElementIterator(); it.Next(); {
		key, value := it.Element()
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{iterator: cty.ObjectVal(map[string]cty.Value{"key": key, "value": value})}
		var labels []string
		if la, ok := b.Body.Attributes["labels"]; ok {
			lv, diags := la.Expr.Value(child)
			d.diags = append(d.diags, diags...)
			if diags.HasErrors() {
				return nil
			}
			if err := setValue(reflect.ValueOf(&labels).Elem(), lv); err != nil {
				d.errorf(la.Expr.Range(), "Invalid dynamic labels", "%s.", err)
				return nil
			}
		}
		out = append(out, block{b.Labels[0], labels, content.Body, child, content.DefRange()})
	}
	return out
}

type structSpec struct {
	attrs    map[string]int
	required []string
	blocks   map[string]int
	labels   []int
}

func specOf(t reflect.Type) structSpec {
	s := structSpec{attrs: map[string]int{}, blocks: map[string]int{}}
	for i := range t.NumField() {
		tag, ok := t.Field(i).Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		switch kind {
		case "label":
			s.labels = append(s.labels, i)
		case "block":
			s.blocks[name] = i
		case "optional":
			s.attrs[name] = i
		case "":
			if name != "-" {
				s.attrs[name] = i
				s.required = append(s.required, name)
			}
		}
	}
	return s
}

// body decodes b into the struct v by v's hcl tags.
func (d *decoder) body(b *hclsyntax.Body, ctx *hcl.EvalContext, v reflect.Value) {
	s := specOf(v.Type())
	for _, name := range sortedKeys(b.Attributes) {
		a := b.Attributes[name]
		i, ok := s.attrs[name]
		if !ok {
			d.errorf(a.NameRange, "Unsupported argument", "An argument named %q is not expected here.", name)
			continue
		}
		val, diags := a.Expr.Value(ctx)
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		if err := setValue(v.Field(i), val); err != nil {
			d.errorf(a.Expr.Range(), "Incorrect attribute value type", "Inappropriate value for %q: %s.", name, err)
		}
	}
	for _, name := range s.required {
		if _, ok := b.Attributes[name]; !ok {
			d.errorf(b.SrcRange, "Missing required argument", "The argument %q is required.", name)
		}
	}
	for _, blk := range d.expand(b.Blocks, ctx) {
		i, ok := s.blocks[blk.typ]
		if !ok {
			d.errorf(blk.rng, "Unsupported block type", "Blocks of type %q are not expected here.", blk.typ)
			continue
		}
		d.block(v.Field(i), blk)
	}
}

func (d *decoder) block(f reflect.Value, b block) {
	t := f.Type()
	single := t.Kind() == reflect.Pointer || t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() != reflect.Pointer
	if single && !f.IsNil() {
		d.errorf(b.rng, "Duplicate "+b.typ+" block", "Only one %s block is allowed here.", b.typ)
		return
	}
	switch {
	case t == stringMapType || t == anyMapType:
		if len(b.labels) != 0 {
			d.errorf(b.rng, "Extraneous label", "A %s block has no labels.", b.typ)
			return
		}
		if t == stringMapType {
			for _, nb := range b.body.Blocks {
				d.errorf(nb.DefRange(), "Unexpected block", "A %s block holds only arguments.", b.typ)
			}
			m := map[string]string{}
			d.attributes(b.body.Attributes, b.ctx, reflect.ValueOf(m))
			f.Set(reflect.ValueOf(m))
		} else {
			f.Set(reflect.ValueOf(d.freeform(b)))
		}
	case t.Kind() == reflect.Pointer:
		f.Set(d.newStruct(t.Elem(), b))
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Pointer:
		f.Set(reflect.Append(f, d.newStruct(t.Elem().Elem(), b)))
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		f.Set(reflect.Append(f, d.newStruct(t.Elem(), b).Elem()))
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Pointer:
		// Labelled blocks kept by name (group volumes): the label is the key and the name.
		if len(b.labels) == 0 {
			d.errorf(b.rng, "Missing name", "A %s block is labelled with its name.", b.typ)
			return
		}
		if f.IsNil() {
			f.Set(reflect.MakeMap(t))
		}
		key := reflect.ValueOf(b.labels[0])
		if f.MapIndex(key).IsValid() {
			d.errorf(b.rng, "Duplicate "+b.typ+" block", "A %s block named %q already exists.", b.typ, b.labels[0])
			return
		}
		f.SetMapIndex(key, d.newStruct(t.Elem().Elem(), b))
	default:
		d.errorf(b.rng, "Unsupported block type", "nomadcheck cannot decode %s blocks (%s).", b.typ, t)
	}
}

func (d *decoder) newStruct(t reflect.Type, b block) reflect.Value {
	p := reflect.New(t)
	s := specOf(t)
	if len(b.labels) != len(s.labels) {
		d.errorf(b.rng, "Wrong number of labels", "A %s block has %d label(s), this one has %d.", b.typ, len(s.labels), len(b.labels))
		return p
	}
	for i, idx := range s.labels {
		_ = setValue(p.Elem().Field(idx), cty.StringVal(b.labels[i]))
	}
	d.body(b.body, b.ctx, p.Elem())
	return p
}

// attributes decodes the arguments of a block without a schema (env, meta, driver config)
// into the map m.
func (d *decoder) attributes(attrs hclsyntax.Attributes, ctx *hcl.EvalContext, m reflect.Value) {
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		val, diags := a.Expr.Value(ctx)
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		e := reflect.New(m.Type().Elem()).Elem()
		if err := setValue(e, val); err != nil {
			d.errorf(a.Expr.Range(), "Incorrect attribute value type", "Inappropriate value for %q: %s.", name, err)
			continue
		}
		m.SetMapIndex(reflect.ValueOf(name), e)
	}
}

// freeform decodes a task driver's config block: its schema belongs to the driver, so every
// argument is kept, as JSON values, and nested blocks become lists of objects.
func (d *decoder) freeform(b block) map[string]any {
	m := map[string]any{}
	d.attributes(b.body.Attributes, b.ctx, reflect.ValueOf(m))
	for _, nb := range d.expand(b.body.Blocks, b.ctx) {
		if _, isAttr := b.body.Attributes[nb.typ]; isAttr || len(nb.labels) != 0 {
			d.errorf(nb.rng, "Unsupported block", "nomadcheck keeps unlabelled driver config blocks whose name is not also an argument.")
			continue
		}
		list, _ := m[nb.typ].([]map[string]any)
		m[nb.typ] = append(list, d.freeform(nb))
	}
	return m
}

// normalize does what Nomad's parser does after decoding: static ports are reserved ports,
// and an identity block without a name is the task's default identity.
func (d *decoder) normalize(job *api.Job, rng hcl.Range) {
	splitPorts := func(networks []*api.NetworkResource) {
		for _, n := range networks {
			var dynamic, reserved []api.Port
			for _, p := range n.DynamicPorts {
				if p.Value > 0 {
					reserved = append(reserved, p)
				} else {
					dynamic = append(dynamic, p)
				}
			}
			n.DynamicPorts, n.ReservedPorts = dynamic, append(n.ReservedPorts, reserved...)
		}
	}
	for _, g := range job.TaskGroups {
		splitPorts(g.Networks)
		for _, t := range g.Tasks {
			if t.Resources != nil {
				splitPorts(t.Resources.Networks)
			}
			var named []*api.WorkloadIdentity
			for _, id := range t.Identities {
				switch {
				case id.Name != "":
					named = append(named, id)
				case t.Identity != nil:
					d.errorf(rng, "Duplicate default identity", "Task %q has more than one identity block without a name.", t.Name)
				default:
					t.Identity = id
				}
			}
			t.Identities = named
		}
	}
}

// setValue stores an HCL value in a Go field of an api struct; null leaves the field unset.
func setValue(f reflect.Value, val cty.Value) error {
	if val.IsNull() {
		return nil
	}
	if !val.IsWhollyKnown() {
		return fmt.Errorf("the value is not known")
	}
	t := f.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := setValue(p.Elem(), val); err != nil {
			return err
		}
		f.Set(p)
		return nil
	case t == durationType:
		s, err := convert.Convert(val, cty.String)
		if err != nil {
			return err
		}
		dur, err := time.ParseDuration(s.AsString())
		if err != nil {
			return err
		}
		f.SetInt(int64(dur))
		return nil
	case t.Kind() == reflect.Interface: // a driver config value: kept as its JSON form
		b, err := ctyjson.Marshal(val, val.Type())
		if err != nil {
			return err
		}
		p := reflect.New(t)
		if err := json.Unmarshal(b, p.Interface()); err != nil {
			return err
		}
		f.Set(p.Elem())
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		s, err := convert.Convert(val, cty.String)
		if err != nil {
			return err
		}
		f.SetString(s.AsString())
	case reflect.Bool:
		b, err := convert.Convert(val, cty.Bool)
		if err != nil {
			return err
		}
		f.SetBool(b.True())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := convert.Convert(val, cty.Number)
		if err != nil {
			return err
		}
		i, acc := n.AsBigFloat().Int64()
		if acc != big.Exact || f.OverflowInt(i) {
			return fmt.Errorf("%s is not a whole number in range", n.AsBigFloat().String())
		}
		f.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := convert.Convert(val, cty.Number)
		if err != nil {
			return err
		}
		u, acc := n.AsBigFloat().Uint64()
		if acc != big.Exact || f.OverflowUint(u) {
			return fmt.Errorf("%s is not a whole number in range", n.AsBigFloat().String())
		}
		f.SetUint(u)
	case reflect.Float32, reflect.Float64:
		n, err := convert.Convert(val, cty.Number)
		if err != nil {
			return err
		}
		x, _ := n.AsBigFloat().Float64()
		f.SetFloat(x)
	case reflect.Slice:
		if !val.Type().IsListType() && !val.Type().IsTupleType() && !val.Type().IsSetType() {
			return fmt.Errorf("a list is required")
		}
		s := reflect.MakeSlice(t, 0, val.LengthInt())
		for it := val.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			e := reflect.New(t.Elem()).Elem()
			if err := setValue(e, ev); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		f.Set(s)
	case reflect.Map:
		if t.Key().Kind() != reflect.String || !val.Type().IsMapType() && !val.Type().IsObjectType() {
			return fmt.Errorf("a map is required")
		}
		m := reflect.MakeMap(t)
		for it := val.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			e := reflect.New(t.Elem()).Elem()
			if err := setValue(e, ev); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k.AsString()), e)
		}
		f.Set(m)
	default:
		return fmt.Errorf("nomadcheck cannot decode a %s", t)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
