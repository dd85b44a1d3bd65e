package specs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the name of the config file in a bundle.
const ConfigName = "config.json"

// maxConfigSize bounds how much of a config file Load reads: real configs
// are a few KiB, and a path to something endless (/dev/zero) must not hang.
const maxConfigSize = 16 << 20

// A Bundle is a loaded config with what is needed to use it and to talk
// about it.
type Bundle struct {
	// Path is the config file as it was given, for messages: "spec.json",
	// "bundle/config.json".
	Path string
	// Dir is the absolute folder holding the config; a relative root.path
	// and relative bind sources are resolved against it.
	Dir string
	// Spec is the decoded config, unchanged (root.path as written).
	Spec *rspec.Spec
	// RootFS is root.path made absolute against Dir and cleaned; "" when
	// the spec has no root or an empty root.path.
	RootFS string
	// Raw is the config file's text, which Spec was decoded from: a
	// container's record keeps it rather than encoding Spec again.
	Raw []byte
}

// A LoadError is a config that cannot be read or decoded.
type LoadError struct {
	File string
	// Line and Column (1-based) locate a syntax or type error; 0 when the
	// error has no place in the text (the file is missing or too big).
	Line, Column int
	// Field is the JSON path of a value of the wrong type:
	// "process.user.uid", "mounts[2].options".
	Field string
	Err   error
}

// Error renders "spec.json:12:5: invalid character …" or
// "spec.json:7:14: process.user.uid: cannot unmarshal string into uint32".
func (e *LoadError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d:%d", e.Line, e.Column)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads and decodes the config at path. Unknown fields are accepted
// (runtime-spec allows extensions); a value of the wrong type is an error
// naming its line, column and JSON path. The spec is not validated.
func Load(path string) (*rspec.Spec, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes a config held in memory; name stands for the file in
// errors.
func Parse(name string, data []byte) (*rspec.Spec, error) {
	s, err := Decode(data)
	if err != nil {
		return nil, decodeError(name, data, err)
	}
	return s, nil
}

// LoadBundle loads dir/config.json and resolves root.path against dir.
func LoadBundle(dir string) (*Bundle, error) {
	return LoadFile(filepath.Join(dir, ConfigName))
}

// LoadFile loads the config at path (any name: "spec.json") as a bundle
// whose folder is the file's folder.
func LoadFile(path string) (*Bundle, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &LoadError{File: path, Err: fmt.Errorf("finding its folder: %w", err)}
	}
	b := &Bundle{Path: path, Dir: dir, Spec: s, Raw: data}
	if s.Root != nil && s.Root.Path != "" {
		b.RootFS = b.Abs(s.Root.Path)
	}
	return b, nil
}

// Abs resolves a host path written in the config (root.path, a bind
// source) against the bundle's folder.
func (b *Bundle) Abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(b.Dir, p)
}

// Validate validates the bundle's spec, naming the bundle's file in the
// messages and resolving relative host paths against its folder.
func (b *Bundle) Validate(opts ValidateOptions) error {
	opts.File = b.Path
	opts.Dir = b.Dir
	return Validate(b.Spec, opts)
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &LoadError{File: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &LoadError{File: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		what := "not a regular file"
		if st.IsDir() {
			what = "a directory, not a config file"
		}
		return nil, &LoadError{File: path, Err: errors.New("is " + what)}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, &LoadError{File: path, Err: err}
	}
	if len(data) > maxConfigSize {
		return nil, &LoadError{File: path, Err: fmt.Errorf("is larger than %d MiB; a config is a few KiB", maxConfigSize>>20)}
	}
	return data, nil
}

// decodeError places a json error in the text.
func decodeError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset)
		return &LoadError{File: name, Line: line, Column: col, Err: se}
	case errors.As(err, &te):
		start, path := valueAt(data, te.Offset)
		line, col := lineCol(data, start+1) // lineCol wants the offset past the byte
		if path == "" {
			path = "(top level)"
		}
		return &LoadError{File: name, Line: line, Column: col, Field: path,
			Err: fmt.Errorf("cannot unmarshal %s into %s", te.Value, jsonTypeName(te.Type))}
	}
	return &LoadError{File: name, Err: err}
}

// lineCol turns a byte offset into a 1-based line and column (in bytes).
// The syntax error offset is just past the bad byte, so it points at the
// byte before it.
func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off > 0 {
		off--
	}
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// jsonTypeName says what Go type a JSON value was meant to fill, in JSON's
// words for containers.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return t.Kind().String() // uint32, int64, int…
}

// jsonLevel is one open array or object while valueAt walks the tokens.
type jsonLevel struct {
	array   bool
	index   int    // in an array: the index of the next element
	key     string // in an object: the key of the current value
	wantKey bool   // in an object: the next string is a key
}

// next moves past a complete value inside the level.
func (l *jsonLevel) next() {
	if l.array {
		l.index++
	} else {
		l.wantKey = true
	}
}

// jsonPath renders the open levels as a JSON path: "mounts[2].options".
func jsonPath(stack []jsonLevel) string {
	var b []byte
	for i, l := range stack {
		if l.array {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(l.index), 10)
			b = append(b, ']')
			continue
		}
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, l.key...)
	}
	return string(b)
}

// valueAt finds the JSON value encoding/json was reading when it stopped at
// off with a type error, and returns where that value starts and its path.
// It walks the tokens again; data is valid JSON by then.
func valueAt(data []byte, off int64) (start int64, path string) {
	var stack []jsonLevel
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return 0, ""
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 {
				stack[n-1].next()
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			stack[n-1].key, _ = tok.(string)
			stack[n-1].wantKey = false
			continue
		}
		// tok begins a value. InputOffset before Token is the end of the
		// previous token; skip the separators to find where this one began.
		for before < int64(len(data)) && isSeparator(data[before]) {
			before++
		}
		if dec.InputOffset() >= off {
			return before, jsonPath(stack)
		}
		switch tok {
		case json.Delim('['):
			stack = append(stack, jsonLevel{array: true})
		case json.Delim('{'):
			stack = append(stack, jsonLevel{wantKey: true})
		default:
			if n := len(stack); n > 0 {
				stack[n-1].next()
			}
		}
	}
}

func isSeparator(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':' || c == ','
}
