package specs

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

//go:generate go run ./internal/gendecode -o decode_gen.go

// Decode decodes a config into a Spec exactly as encoding/json's
// Unmarshal does, result and error alike, but faster on the way every
// start takes.
//
// encoding/json works out, the first time it meets each struct type, the
// type's fields by reflection, and checks the whole text with a scanner
// before it decodes a byte: 0.65-0.75 ms for `runc spec`'s config in a
// fresh process on the project's machine, a tenth of a container's start.
// decode_gen.go, generated from rspec's types by internal/gendecode, does
// the same work in plain Go, one function per type (about 0.1 ms cold).
//
// It is the fast path and nothing more. It decodes only what it can decode
// exactly as encoding/json would, and gives up on anything else: a syntax
// error, a value of the wrong type, a number out of range, a key that
// matches a field only case-insensitively, a key given twice, a \u escape
// of a surrogate, bytes that are not UTF-8, an interface{} field. Then
// encoding/json decodes the text from the start, so every result and every
// error message is its own. FuzzDecode holds the two to that.
func Decode(data []byte) (*rspec.Spec, error) {
	if s, ok := decodeFast(data); ok {
		return s, nil
	}
	var s rspec.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeFast is the generated decoder; false when it gave up.
func decodeFast(data []byte) (*rspec.Spec, bool) {
	d := decoder{data: data}
	var s rspec.Spec
	d.decodeSpec(&s)
	if d.ws(); d.bad || d.pos != len(d.data) {
		return nil, false
	}
	return &s, true
}

// decoder is a strict JSON reader over data. Any problem sets bad; every
// method does nothing once it is set, and the caller falls back.
type decoder struct {
	data []byte
	pos  int
	bad  bool
	// buf holds a string being unescaped.
	buf []byte
}

func (d *decoder) fail() { d.bad = true }

// ws skips JSON's whitespace.
func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte past whitespace, 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.bad || d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// literal consumes word (true, false, null) or fails.
func (d *decoder) literal(word string) {
	if d.bad || len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		d.fail()
		return
	}
	d.pos += len(word)
}

// null consumes a null and reports whether there was one. encoding/json
// sets a pointer, slice or map to nil for it, and leaves anything else
// as it is (zero, here).
func (d *decoder) null() bool {
	if d.peek() != 'n' {
		return false
	}
	d.literal("null")
	return true
}

// object consumes the '{' of an object, or fails.
func (d *decoder) object() bool {
	if d.peek() != '{' {
		d.fail()
		return false
	}
	d.pos++
	return true
}

// member reads the next member's key and the ':' after it; false at the
// object's end ('}' consumed) or on failure. first says no member has
// been read yet (no ',' before this one). The key is valid until the next
// string is read.
func (d *decoder) member(first *bool) ([]byte, bool) {
	c := d.peek()
	if c == '}' && *first {
		d.pos++
		return nil, false
	}
	if !*first {
		if c == '}' {
			d.pos++
			return nil, false
		}
		if c != ',' {
			d.fail()
			return nil, false
		}
		d.pos++
		c = d.peek()
	}
	*first = false
	if c != '"' {
		d.fail()
		return nil, false
	}
	k := d.stringBytes()
	if d.peek() != ':' {
		d.fail()
		return nil, false
	}
	d.pos++
	return k, !d.bad
}

// once marks field i of a struct as seen, failing if it was: encoding/json
// would decode a repeated key into what the first left, and that is left
// to it.
func (d *decoder) once(seen *uint64, i uint) bool {
	if *seen&(1<<i) != 0 {
		d.fail()
		return false
	}
	*seen |= 1 << i
	return true
}

// unknown skips the value of a key no field has. A key that matches a
// field's name but for case is a match for encoding/json (it folds case
// as strings.EqualFold does), and is left to it.
func (d *decoder) unknown(k []byte, names []string) {
	for _, n := range names {
		if strings.EqualFold(string(k), n) {
			d.fail()
			return
		}
	}
	d.skip(0)
}

// array consumes the '[' of an array, or fails.
func (d *decoder) array() bool {
	if d.peek() != '[' {
		d.fail()
		return false
	}
	d.pos++
	return true
}

// element reports whether another element follows in an array (consuming
// the ',' before it), and consumes the ']' at its end.
func (d *decoder) element(first *bool) bool {
	c := d.peek()
	if c == ']' {
		d.pos++
		return false
	}
	if !*first {
		if c != ',' {
			d.fail()
			return false
		}
		d.pos++
	}
	*first = false
	return !d.bad
}

// maxDepth bounds the nesting skip follows (encoding/json's own limit is
// 10000; a deeper value is left to it).
const maxDepth = 1000

// skip consumes one value of any kind, checking its syntax.
func (d *decoder) skip(depth int) {
	if depth > maxDepth {
		d.fail()
		return
	}
	switch c := d.peek(); {
	case c == '{':
		d.pos++
		for first := true; ; {
			if _, ok := d.member(&first); !ok {
				return
			}
			d.skip(depth + 1)
		}
	case c == '[':
		d.pos++
		for first := true; d.element(&first); {
			d.skip(depth + 1)
		}
	case c == '"':
		d.stringBytes()
	case c == 't':
		d.literal("true")
	case c == 'f':
		d.literal("false")
	case c == 'n':
		d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		d.number()
	default:
		d.fail()
	}
}

// number consumes a number as JSON's grammar has it and returns its text.
func (d *decoder) number() []byte {
	start := d.pos
	p := d.pos
	digits := func() bool {
		n := p
		for p < len(d.data) && d.data[p] >= '0' && d.data[p] <= '9' {
			p++
		}
		return p > n
	}
	if p < len(d.data) && d.data[p] == '-' {
		p++
	}
	switch {
	case p < len(d.data) && d.data[p] == '0':
		p++
	case !digits():
		d.fail()
		return nil
	}
	if p < len(d.data) && d.data[p] == '.' {
		p++
		if !digits() {
			d.fail()
			return nil
		}
	}
	if p < len(d.data) && (d.data[p] == 'e' || d.data[p] == 'E') {
		p++
		if p < len(d.data) && (d.data[p] == '+' || d.data[p] == '-') {
			p++
		}
		if !digits() {
			d.fail()
			return nil
		}
	}
	d.pos = p
	return d.data[start:p]
}

// stringBytes consumes a string and returns its value: a slice of data
// when it has no escape, else d.buf. It fails on a control character,
// bytes that are not UTF-8 and a \u escape of a surrogate, each of which
// encoding/json either refuses or replaces.
func (d *decoder) stringBytes() []byte {
	if d.bad || d.pos >= len(d.data) || d.data[d.pos] != '"' {
		d.fail()
		return nil
	}
	d.pos++
	start := d.pos
	ascii := true
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := d.data[start:d.pos]
			d.pos++
			if !ascii && !utf8.Valid(s) {
				d.fail()
			}
			return s
		case c == '\\':
			return d.unescape(start)
		case c < 0x20:
			d.fail()
			return nil
		case c >= 0x80:
			ascii = false
		}
		d.pos++
	}
	d.fail()
	return nil
}

// unescape finishes a string with escapes, from start (past the quote).
func (d *decoder) unescape(start int) []byte {
	d.buf = append(d.buf[:0], d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			if !utf8.Valid(d.buf) {
				d.fail()
			}
			return d.buf
		case c < 0x20:
			d.fail()
			return nil
		case c != '\\':
			d.buf = append(d.buf, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			break
		}
		e := d.data[d.pos+1]
		d.pos += 2
		switch e {
		case '"', '\\', '/':
			d.buf = append(d.buf, e)
		case 'b':
			d.buf = append(d.buf, '\b')
		case 'f':
			d.buf = append(d.buf, '\f')
		case 'n':
			d.buf = append(d.buf, '\n')
		case 'r':
			d.buf = append(d.buf, '\r')
		case 't':
			d.buf = append(d.buf, '\t')
		case 'u':
			if d.pos+4 > len(d.data) {
				d.fail()
				return nil
			}
			r, err := strconv.ParseUint(string(d.data[d.pos:d.pos+4]), 16, 16)
			if err != nil || r >= 0xd800 && r < 0xe000 {
				d.fail() // a surrogate: encoding/json pairs or replaces them
				return nil
			}
			d.buf = utf8.AppendRune(d.buf, rune(r))
			d.pos += 4
		default:
			d.fail()
			return nil
		}
	}
	d.fail()
	return nil
}

// decPtr decodes a *T: nil for null, else a new T.
func decPtr[T any](d *decoder, v **T, dec func(*decoder, *T)) {
	if d.null() {
		*v = nil
		return
	}
	*v = new(T)
	dec(d, *v)
}

// decSlice decodes a []T: nil for null, and, as encoding/json does, an
// empty slice, not nil, for [].
func decSlice[T any](d *decoder, v *[]T, dec func(*decoder, *T)) {
	if d.null() {
		*v = nil
		return
	}
	if !d.array() {
		return
	}
	*v = make([]T, 0)
	for first := true; d.element(&first); {
		var e T
		dec(d, &e)
		*v = append(*v, e)
	}
}

// decMap decodes a map[string]T: nil for null; a key given twice takes
// the last value, as in encoding/json.
func decMap[T any](d *decoder, v *map[string]T, dec func(*decoder, *T)) {
	if d.null() {
		*v = nil
		return
	}
	if !d.object() {
		return
	}
	*v = make(map[string]T)
	for first := true; ; {
		k, ok := d.member(&first)
		if !ok {
			return
		}
		key := string(k) // before the value's own strings reuse d.buf
		var e T
		dec(d, &e)
		(*v)[key] = e
	}
}

// The decoders of basic kinds. A value of another JSON kind fails (it is
// an error for encoding/json), except null, which leaves the value as it
// is.

func (d *decoder) string_(v *string) {
	switch d.peek() {
	case 'n':
		d.literal("null")
	case '"':
		*v = string(d.stringBytes())
	default:
		d.fail()
	}
}

func (d *decoder) bool_(v *bool) {
	switch d.peek() {
	case 'n':
		d.literal("null")
	case 't':
		d.literal("true")
		*v = true
	case 'f':
		d.literal("false")
		*v = false
	default:
		d.fail()
	}
}

// integer reads a number into an integer of bits bits, as encoding/json's
// strconv.ParseInt / ParseUint and overflow check do; false for null.
func (d *decoder) integer(bits int, signed bool) (int64, uint64, bool) {
	c := d.peek()
	if c == 'n' {
		d.literal("null")
		return 0, 0, false
	}
	if c != '-' && (c < '0' || c > '9') {
		d.fail()
		return 0, 0, false
	}
	s := d.number()
	if d.bad {
		return 0, 0, false
	}
	if signed {
		n, err := strconv.ParseInt(string(s), 10, bits)
		if err != nil {
			d.fail()
		}
		return n, 0, err == nil
	}
	n, err := strconv.ParseUint(string(s), 10, bits)
	if err != nil {
		d.fail()
	}
	return 0, n, err == nil
}

func (d *decoder) int_(v *int) {
	if n, _, ok := d.integer(strconv.IntSize, true); ok {
		*v = int(n)
	}
}

func (d *decoder) int8_(v *int8) {
	if n, _, ok := d.integer(8, true); ok {
		*v = int8(n)
	}
}

func (d *decoder) int16_(v *int16) {
	if n, _, ok := d.integer(16, true); ok {
		*v = int16(n)
	}
}

func (d *decoder) int32_(v *int32) {
	if n, _, ok := d.integer(32, true); ok {
		*v = int32(n)
	}
}

func (d *decoder) int64_(v *int64) {
	if n, _, ok := d.integer(64, true); ok {
		*v = n
	}
}

func (d *decoder) uint_(v *uint) {
	if _, n, ok := d.integer(strconv.IntSize, false); ok {
		*v = uint(n)
	}
}

func (d *decoder) uint8_(v *uint8) {
	if _, n, ok := d.integer(8, false); ok {
		*v = uint8(n)
	}
}

func (d *decoder) uint16_(v *uint16) {
	if _, n, ok := d.integer(16, false); ok {
		*v = uint16(n)
	}
}

func (d *decoder) uint32_(v *uint32) {
	if _, n, ok := d.integer(32, false); ok {
		*v = uint32(n)
	}
}

func (d *decoder) uint64_(v *uint64) {
	if _, n, ok := d.integer(64, false); ok {
		*v = n
	}
}

// unsupported is the decoder of an interface{} field, which encoding/json
// fills with maps and float64s: such a config is left to it.
func (d *decoder) unsupported(*any) { d.fail() }
