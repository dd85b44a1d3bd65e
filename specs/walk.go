package specs

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// The spec's tree of fields, found by reflection over runtime-spec's Go
// types, so that the policy (policy.go) can be checked against every field
// the types have — including any a newer runtime-spec adds — and a config
// can be walked field by field without a hand-written path for each. The
// tree is built once; a walk follows it and makes no string unless it has
// something to report.

// A SpecField is one field of rspec.Spec or of anything below it.
type SpecField struct {
	// Path is the field's JSON path, "[]" standing for any index of a list
	// or key of an object: "process.user.uid", "mounts[].destination",
	// "linux.netDevices[].name".
	Path string
	// Type is the field's Go type with pointers removed.
	Type reflect.Type
}

// Container reports whether the field holds fields of its own: an object,
// or a list or map of objects.
func (f SpecField) Container() bool { return elemStruct(f.Type) != nil }

// fieldNode is a field in the tree: where it is in its struct, its JSON
// name and path, and the fields of the object it holds, if any.
type fieldNode struct {
	index  []int // for reflect.Value.FieldByIndex: an embedded struct's fields are the outer object's
	name   string
	path   string
	typ    reflect.Type // pointers removed
	fields []*fieldNode // of the struct it is, or holds in a list or map
}

var specTree = sync.OnceValue(func() []*fieldNode {
	return structFields(reflect.TypeFor[rspec.Spec](), "", nil)
})

func structFields(t reflect.Type, prefix string, outer []int) []*fieldNode {
	var out []*fieldNode
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		index := append(append([]int(nil), outer...), i)
		name := jsonName(f)
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, structFields(f.Type, prefix, index)...)
			continue
		}
		if name == "" || !f.IsExported() {
			continue
		}
		n := &fieldNode{index: index, name: name, path: name, typ: deref(f.Type)}
		if prefix != "" {
			n.path = prefix + "." + name
		}
		switch e := elemStruct(n.typ); {
		case e == nil:
		case n.typ.Kind() == reflect.Struct:
			n.fields = structFields(e, n.path, nil)
		default:
			n.fields = structFields(e, n.path+"[]", nil)
		}
		out = append(out, n)
	}
	return out
}

// SpecFields lists every field of runtime-spec's Spec and below, in the
// order of the Go types (which is the order of the specification).
func SpecFields() []SpecField {
	var out []SpecField
	var add func(ns []*fieldNode)
	add = func(ns []*fieldNode) {
		for _, n := range ns {
			out = append(out, SpecField{Path: n.path, Type: n.typ})
			add(n.fields)
		}
	}
	add(specTree())
	return out
}

// jsonName is a struct field's name in JSON, "" for an embedded struct
// without a tag or a field JSON skips.
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	if name == "" && !f.Anonymous {
		return f.Name
	}
	return name
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// elemStruct is the struct a field is, or holds in a list or map
// (pointers removed), or nil.
func elemStruct(t reflect.Type) reflect.Type {
	switch t.Kind() {
	case reflect.Struct:
		return t
	case reflect.Slice, reflect.Array, reflect.Map:
		if e := deref(t.Elem()); e.Kind() == reflect.Struct {
			return e
		}
	}
	return nil
}

// present reports whether a config sets v: a non-nil pointer, a non-empty
// list or map, a non-zero value. An empty list ("hooks": {"prestart": []})
// asks for nothing.
func present(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() > 0
	}
	return !v.IsZero()
}

// A configPath is a field's path in one config, made into a string only
// when something is reported: "mounts[2].destination".
type configPath struct {
	parent *configPath
	name   string // a field's name, or "" for an element
	index  int    // an element of a list
	key    string // an element of a map, when isKey
	isKey  bool
}

func (p *configPath) String() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p *configPath) write(b *strings.Builder) {
	if p.parent != nil {
		p.parent.write(b)
	}
	switch {
	case p.name != "":
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.name)
	case p.isKey:
		b.WriteString("[" + strconv.Quote(p.key) + "]")
	default:
		b.WriteString("[" + strconv.Itoa(p.index) + "]")
	}
}

// walkSpec calls visit for every field s sets, in the spec's order, with
// the field's node (its policy path), its path in this config, and its
// value with pointers removed. visit returns whether to go on into the
// field's own fields.
func walkSpec(s *rspec.Spec, visit func(n *fieldNode, at *configPath, v reflect.Value) bool) {
	if s == nil {
		return
	}
	walkStruct(reflect.ValueOf(s).Elem(), specTree(), nil, visit)
}

func walkStruct(v reflect.Value, fields []*fieldNode, at *configPath, visit func(*fieldNode, *configPath, reflect.Value) bool) {
	for _, n := range fields {
		fv, err := v.FieldByIndexErr(n.index)
		if err != nil || !present(fv) {
			continue
		}
		for fv.Kind() == reflect.Pointer {
			fv = fv.Elem()
		}
		p := &configPath{parent: at, name: n.name}
		if !visit(n, p, fv) || n.fields == nil {
			continue
		}
		switch fv.Kind() {
		case reflect.Struct:
			walkStruct(fv, n.fields, p, visit)
		case reflect.Slice, reflect.Array:
			for i := 0; i < fv.Len(); i++ {
				if e := derefValue(fv.Index(i)); e.IsValid() {
					walkStruct(e, n.fields, &configPath{parent: p, index: i}, visit)
				}
			}
		case reflect.Map:
			for _, k := range sortedMapKeys(fv) {
				if e := derefValue(fv.MapIndex(k)); e.IsValid() {
					walkStruct(e, n.fields, &configPath{parent: p, key: k.String(), isKey: true}, visit)
				}
			}
		}
	}
}

// derefValue removes pointers; an invalid Value for a nil one.
func derefValue(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// sortedMapKeys returns a string-keyed map's keys in order, for messages
// that do not depend on map iteration.
func sortedMapKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// nulStrings calls bad for every string in a field's own value — the value
// itself, each element of a list, each key and value of a map — that holds
// a NUL byte, with its path and what it is ("", or "key"). The kernel reads
// a string up to its first NUL, so "/tmp\x00/../etc" would be taken as
// /tmp: such a config must be refused, not truncated.
func nulStrings(at *configPath, v reflect.Value, bad func(path, what string)) {
	switch v.Kind() {
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			bad(at.String(), "")
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() != reflect.String {
			return
		}
		for i := 0; i < v.Len(); i++ {
			if strings.IndexByte(v.Index(i).String(), 0) >= 0 {
				bad(fmt.Sprintf("%s[%d]", at, i), "")
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		iter := v.MapRange()
		var found bool
		for iter.Next() {
			k, e := iter.Key(), iter.Value()
			if strings.IndexByte(k.String(), 0) >= 0 || e.Kind() == reflect.String && strings.IndexByte(e.String(), 0) >= 0 {
				found = true
				break
			}
		}
		if !found {
			return
		}
		for _, k := range sortedMapKeys(v) {
			kp := fmt.Sprintf("%s[%q]", at, k.String())
			if strings.IndexByte(k.String(), 0) >= 0 {
				bad(kp, "key")
			}
			if e := v.MapIndex(k); e.Kind() == reflect.String && strings.IndexByte(e.String(), 0) >= 0 {
				bad(kp, "")
			}
		}
	}
}
