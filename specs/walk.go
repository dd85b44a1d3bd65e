package specs

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// The spec's tree of fields, found by reflection over runtime-spec's Go
// types, so that the policy (policy.go) can be checked against every field
// the types have — including any a newer runtime-spec adds — and a config
// can be walked field by field without a hand-written path for each.

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

var specFieldsOnce = sync.OnceValue(func() []SpecField {
	var out []SpecField
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := jsonName(f)
			if f.Anonymous && name == "" {
				walk(deref(f.Type), prefix) // an embedded struct's fields are the outer object's
				continue
			}
			if name == "" || !f.IsExported() {
				continue
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			ft := deref(f.Type)
			out = append(out, SpecField{Path: p, Type: ft})
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, p)
			case elemStruct(ft) != nil:
				walk(elemStruct(ft), p+"[]")
			}
		}
	}
	walk(reflect.TypeFor[rspec.Spec](), "")
	return out
})

// SpecFields lists every field of runtime-spec's Spec and below, in the
// order of the Go types (which is the order of the specification).
func SpecFields() []SpecField { return append([]SpecField(nil), specFieldsOnce()...) }

// jsonName is a struct field's name in JSON, "" for an embedded struct
// without a tag, "-" fields skipped.
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

// elemStruct is the struct a list or map holds (pointers removed), or nil.
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

// walkSpec calls visit for every field s sets, in the spec's order, with
// the field's policy path ("mounts[].destination") and its path in this
// config ("mounts[2].destination"), and the value with pointers removed.
// visit returns whether to go on into the field's own fields.
func walkSpec(s *rspec.Spec, visit func(policyPath, path string, v reflect.Value) bool) {
	if s == nil {
		return
	}
	walkStruct(reflect.ValueOf(s).Elem(), "", "", visit)
}

func walkStruct(v reflect.Value, pp, p string, visit func(string, string, reflect.Value) bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := jsonName(f)
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			for fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					break
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct {
				walkStruct(fv, pp, p, visit)
			}
			continue
		}
		if name == "" || !f.IsExported() || !present(fv) {
			continue
		}
		fpp, fp := join(pp, name), join(p, name)
		for fv.Kind() == reflect.Pointer {
			fv = fv.Elem()
		}
		if !visit(fpp, fp, fv) {
			continue
		}
		switch {
		case fv.Kind() == reflect.Struct:
			walkStruct(fv, fpp, fp, visit)
		case elemStruct(fv.Type()) != nil && fv.Kind() == reflect.Slice:
			for j := 0; j < fv.Len(); j++ {
				if e := derefValue(fv.Index(j)); e.IsValid() {
					walkStruct(e, fpp+"[]", fmt.Sprintf("%s[%d]", fp, j), visit)
				}
			}
		case elemStruct(fv.Type()) != nil && fv.Kind() == reflect.Map:
			for _, k := range sortedMapKeys(fv) {
				if e := derefValue(fv.MapIndex(k)); e.IsValid() {
					walkStruct(e, fpp+"[]", fmt.Sprintf("%s[%q]", fp, k.String()), visit)
				}
			}
		}
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
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
func nulStrings(p string, v reflect.Value, bad func(path, what string)) {
	switch v.Kind() {
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			bad(p, "")
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() != reflect.String {
			return
		}
		for i := 0; i < v.Len(); i++ {
			if strings.IndexByte(v.Index(i).String(), 0) >= 0 {
				bad(fmt.Sprintf("%s[%d]", p, i), "")
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		for _, k := range sortedMapKeys(v) {
			kp := fmt.Sprintf("%s[%q]", p, k.String())
			if strings.IndexByte(k.String(), 0) >= 0 {
				bad(kp, "key")
			}
			if e := v.MapIndex(k); e.Kind() == reflect.String && strings.IndexByte(e.String(), 0) >= 0 {
				bad(kp, "")
			}
		}
	}
}
