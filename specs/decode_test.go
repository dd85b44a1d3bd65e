package specs

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDecodeGenerated: decode_gen.go is what internal/gendecode writes
// for the runtime-spec module in go.mod (go generate ./specs rewrites it).
func TestDecodeGenerated(t *testing.T) {
	out, err := exec.Command("go", "run", "./internal/gendecode").Output()
	if err != nil {
		t.Fatalf("go run ./internal/gendecode: %v", err)
	}
	have, err := os.ReadFile("decode_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, have) {
		t.Errorf("decode_gen.go is stale: run go generate ./specs")
	}
}

// seedConfigs are real configs: this package's and the compiler's test
// configs, and every variant Generate writes.
func seedConfigs(t testing.TB) map[string][]byte {
	t.Helper()
	seeds := map[string][]byte{}
	files, _ := filepath.Glob("../childprog/testdata/compile/*.json")
	files = append(files, "testdata/bundle/config.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds[f] = data
	}
	for name, o := range map[string]GenerateOptions{
		"generated": {}, "generated-rootless": {Rootless: true, UID: 1000, GID: 1000}, "generated-host-root": {HostRoot: true},
	} {
		data, err := json.MarshalIndent(Generate(o), "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = data
	}
	return seeds
}

// checkSame fails unless the generated decoder gave up on data or decoded
// it exactly as encoding/json does; it reports whether it decoded it.
func checkSame(t *testing.T, data []byte) bool {
	t.Helper()
	fast, ok := decodeFast(data)
	var want rspec.Spec
	err := json.Unmarshal(data, &want)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("generated decoder: decoded %q, which encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(*fast, want) {
		g, _ := json.Marshal(fast)
		w, _ := json.Marshal(&want)
		t.Fatalf("generated decoder: %q decoded differently:\n got  %s\n want %s", data, g, w)
	}
	return true
}

// TestDecodeSeeds: every real config takes the fast path, and decodes as
// encoding/json decodes it.
func TestDecodeSeeds(t *testing.T) {
	for name, data := range seedConfigs(t) {
		if !checkSame(t, data) {
			t.Errorf("%s: the generated decoder gave up on it, want it decoded", name)
		}
	}
}

// TestDecodeCases: each of encoding/json's rules the generated decoder
// follows itself, and each case it leaves to encoding/json.
func TestDecodeCases(t *testing.T) {
	for _, c := range []struct {
		json string
		fast bool // false: left to encoding/json
	}{
		{`{}`, true},
		{` {"ociVersion":"1.0.0"} `, true},
		{`{"process":{"args":[]}}`, true}, // an empty slice, not nil
		{`{"process":{"args":null}}`, true},
		{`{"process":null}`, true},
		{`{"annotations":{}}`, true},
		{`{"annotations":{"a":"1","a":"2"}}`, true}, // a repeated map key: the last
		{`{"annotations":{"k\u00e9y\n":"v\"\\\/\b\f\r\t"}}`, true},
		{`{"annotations":{"caf` + "\u00e9" + `":"日本"}}`, true},
		{`{"process":{"user":{"uid":4294967295,"gid":0}}}`, true},
		{`{"process":{"user":{"uid":-0}}}`, false},
		{`{"linux":{"resources":{"memory":{"limit":-1,"swap":9223372036854775807}}}}`, true},
		{`{"linux":{"resources":{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":10}]}}}}`, true}, // embedded struct
		{`{"linux":{"devices":[{"path":"/dev/x","type":"c","major":1,"minor":3,"fileMode":438}]}}`, true},
		{`{"unknown":{"deep":[1,2.5e-3,{"x":null},true,false,"s"]},"ociVersion":"1"}`, true},
		{`{"process":{"user":null}}`, false},                                                 // null into a struct: encoding/json's
		{`{"OCIVersion":"1.0.0"}`, false},                                                    // case-folded key
		{`{"ociVersion":"1","ociVersion":"2"}`, false},                                       // a repeated field
		{`{"process":{"user":{"uid":4294967296}}}`, false},                                   // overflow
		{`{"process":{"user":{"uid":-1}}}`, false},                                           // negative into unsigned
		{`{"process":{"user":{"uid":1.0}}}`, false},                                          // not an integer
		{`{"process":{"user":{"uid":"0"}}}`, false},                                          // a string into a number
		{`{"ociVersion":5}`, false},                                                          // a number into a string
		{`{"annotations":{"a":"\ud83d\ude00"}}`, false},                                      // a surrogate pair
		{"{\"annotations\":{\"a\":\"\xff\"}}", false},                                        // not UTF-8
		{`{"ociVersion":"1",}`, false},                                                       // syntax
		{`{"process":{"args":["a",]}}`, false},                                               // syntax
		{`{"ociVersion":"1"} x`, false},                                                      // trailing text
		{"\ufeff{}", false},                                                                  // a byte order mark
		{`{"windows":{"credentialSpec":{"a":1}}}`, false},                                    // interface{}
		{`null`, false},                                                                      // encoding/json leaves the spec as it is
		{`{"unknown":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`, false}, // deeper than skip goes
	} {
		if got := checkSame(t, []byte(c.json)); got != c.fast {
			t.Errorf("%.80q: decoded by the generated decoder: %v, want %v", c.json, got, c.fast)
		}
		// Decode, fast or not, answers exactly as encoding/json.
		var want rspec.Spec
		werr := json.Unmarshal([]byte(c.json), &want)
		got, err := Decode([]byte(c.json))
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() || err == nil && !reflect.DeepEqual(*got, want) {
			t.Errorf("%.80q: Decode: got %v, %v; want encoding/json's %v", c.json, got, err, werr)
		}
	}
}

// FuzzDecode holds the generated decoder to encoding/json on any input:
// whatever it decodes, it decodes the same.
func FuzzDecode(f *testing.F) {
	for _, data := range seedConfigs(f) {
		f.Add(data)
	}
	f.Add([]byte(`{"process":{"user":{"uid":1,"additionalGids":[1,2]},"args":["a"]},"annotations":{"x":"y"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, data)
	})
}

// BenchmarkDecode decodes runc spec's config, in a process that has
// decoded it before: the cold, first decode of a start is what matters,
// and bench/run.sh and run --trace show it; this is the steady cost.
func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile("testdata/bundle/config.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("generated", func(b *testing.B) {
		for b.Loop() {
			if _, ok := decodeFast(data); !ok {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var s rspec.Spec
			if err := json.Unmarshal(data, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
