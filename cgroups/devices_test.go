package cgroups

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func rule(allow bool, typ byte, major, minor int64, access string) devRule {
	r, err := parseDeviceRule("test", rspec.LinuxDeviceCgroup{Allow: allow, Type: string(typ), Major: &major, Minor: &minor, Access: access})
	if err != nil {
		panic(err)
	}
	return r
}

func acc(s string) uint8 {
	r, _ := parseDeviceRule("test", rspec.LinuxDeviceCgroup{Access: s})
	return r.access
}

// The attacks of issue 7 and the devices a container needs, decided on
// the rule list a default config gives (deny all, then the defaults).
func TestDecideDefaultConfig(t *testing.T) {
	rules, problems := deviceRules([]rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		[]rspec.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}, {Path: "/dev/fifo", Type: "p"}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	for _, tc := range []struct {
		what         string
		typ          byte
		major, minor int64
		access       string
		want         bool
	}{
		{"/dev/null rw", 'c', 1, 3, "rw", true},
		{"/dev/zero r", 'c', 1, 5, "r", true},
		{"/dev/tty rw", 'c', 5, 0, "rw", true},
		{"/dev/pts/7 rw", 'c', 136, 7, "rw", true},
		{"/dev/ptmx rw", 'c', 5, 2, "rw", true},
		{"linux.devices /dev/fuse", 'c', 10, 229, "rw", true},
		{"host block device read", 'b', 254, 0, "r", false},
		{"/dev/kmsg write", 'c', 1, 11, "w", false},
		{"mknod /dev/kmsg", 'c', 1, 11, "m", false},
		{"/dev/mem", 'c', 1, 1, "r", false},
		{"block device with /dev/null's numbers", 'b', 1, 3, "r", false},
	} {
		if got := decide(rules, tc.typ, tc.major, tc.minor, acc(tc.access)); got != tc.want {
			t.Errorf("%s: allowed = %v, want %v", tc.what, got, tc.want)
		}
	}
}

func TestDecideOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rules  []devRule
		access string
		want   bool
	}{
		{"nothing allowed by default", nil, "r", false},
		{"later deny of one bit wins", []devRule{rule(true, 'c', 1, 3, "rwm"), rule(false, 'c', 1, 3, "w")}, "rw", false},
		{"the other bits stay", []devRule{rule(true, 'c', 1, 3, "rwm"), rule(false, 'c', 1, 3, "w")}, "r", true},
		{"wildcard deny after a specific allow", []devRule{rule(true, 'c', 1, 3, "rw"), rule(false, 'c', 1, -1, "w")}, "w", false},
		{"specific allow after a wildcard deny", []devRule{rule(false, 'c', 1, -1, "rwm"), rule(true, 'c', 1, 3, "r")}, "r", true},
		{"bits from two rules add up", []devRule{rule(true, 'c', 1, -1, "r"), rule(true, 'c', -1, 3, "w")}, "rw", true},
		{"earlier deny under a later allow", []devRule{rule(false, 'a', -1, -1, "rwm"), rule(true, 'a', -1, -1, "rwm")}, "rwm", true},
		{"type a covers char devices", []devRule{rule(true, 'a', -1, -1, "r")}, "r", true},
	} {
		if got := decide(tc.rules, 'c', 1, 3, acc(tc.access)); got != tc.want {
			t.Errorf("%s: c 1:3 %s allowed = %v, want %v", tc.name, tc.access, got, tc.want)
		}
	}
}

func TestToV1(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rules   []devRule
		want    [][2]string
		wantErr string
	}{
		{"deny all, then allows", []devRule{rule(false, 'a', -1, -1, "rwm"), rule(true, 'c', 1, 3, "rwm"), rule(true, 'c', 136, -1, "rw")},
			[][2]string{{"devices.deny", "a"}, {"devices.allow", "c 1:3 rwm"}, {"devices.allow", "c 136:* rw"}}, ""},
		{"no leading deny: deny all anyway", []devRule{rule(true, 'c', 1, 3, "r")},
			[][2]string{{"devices.deny", "a"}, {"devices.allow", "c 1:3 r"}}, ""},
		{"privileged", []devRule{rule(true, 'a', -1, -1, "rwm"), rule(true, 'c', 1, 3, "rwm")},
			[][2]string{{"devices.allow", "a"}}, ""},
		{"allow all, deny some", []devRule{rule(true, 'a', -1, -1, "rwm"), rule(false, 'b', -1, -1, "rw"), rule(true, 'b', -1, -1, "w")},
			[][2]string{{"devices.allow", "a"}, {"devices.deny", "b *:* r"}}, ""},
		{"a hole in a deny of allow-all mode", []devRule{rule(true, 'a', -1, -1, "rwm"), rule(false, 'b', -1, -1, "rw"), rule(true, 'b', 8, 0, "w")},
			nil, "carves a hole"},
		{"mknod everything is split by type", []devRule{rule(true, 'a', -1, -1, "m"), rule(true, 'c', 1, 3, "rw")},
			[][2]string{{"devices.deny", "a"}, {"devices.allow", "c *:* m"}, {"devices.allow", "b *:* m"}, {"devices.allow", "c 1:3 rwm"}}, ""},
		{"a deny trims the exception it matches exactly", []devRule{rule(true, 'c', 1, 3, "rwm"), rule(false, 'c', 1, 3, "w")},
			[][2]string{{"devices.deny", "a"}, {"devices.allow", "c 1:3 rm"}}, ""},
		{"a wider deny trims narrower exceptions", []devRule{rule(true, 'c', 1, 3, "rwm"), rule(true, 'c', 1, 5, "r"), rule(false, 'c', 1, -1, "rw")},
			[][2]string{{"devices.deny", "a"}, {"devices.allow", "c 1:3 m"}}, ""},
		{"a hole in a wider exception cannot be said", []devRule{rule(true, 'c', 1, -1, "rwm"), rule(false, 'c', 1, 3, "w")},
			nil, "carves a hole"},
		{"overlaps get their own exception", []devRule{rule(true, 'c', 1, -1, "r"), rule(true, 'c', -1, 3, "w")},
			[][2]string{{"devices.deny", "a"}, {"devices.allow", "c 1:* r"}, {"devices.allow", "c *:3 w"}, {"devices.allow", "c 1:3 rw"}}, ""},
	} {
		v, err := toV1(tc.rules)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: toV1 = %q, %v; want an error containing %q", tc.name, v.writes(), err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := v.writes(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: writes\n got  %q\n want %q", tc.name, got, tc.want)
		}
	}
}

// kernelV1 is how the kernel checks an access against a v1 device list
// (devcgroup_legacy_check_permission): in deny-all mode one exception
// must match the device and hold every bit asked for; in allow-all mode
// no matching exception may hold any of them.
func kernelV1(v v1Devices, typ byte, major, minor int64, access uint8) bool {
	for _, e := range v.exceptions {
		if !e.matches(typ, major, minor) {
			continue
		}
		if v.allowAll && e.access&access != 0 {
			return false
		}
		if !v.allowAll && access&^e.access == 0 {
			return true
		}
	}
	return v.allowAll
}

// bpfRun interprets the instructions deviceProgram emits, on a device
// access, as the kernel would run them.
func bpfRun(t *testing.T, prog []insn, typ byte, major, minor int64, access uint8) bool {
	var reg [11]uint64
	devType := uint64(unix.BPF_DEVCG_DEV_CHAR)
	if typ == 'b' {
		devType = unix.BPF_DEVCG_DEV_BLOCK
	}
	ctx := [3]uint32{uint32(uint64(access)<<16 | devType), uint32(major), uint32(minor)}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.regs&0xf, in.regs>>4
		imm := uint64(int64(in.imm))
		switch in.code {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			if src != r1 || in.off%4 != 0 || in.off < 0 || in.off > 8 {
				t.Fatalf("pc %d: load outside the context", pc)
			}
			reg[dst] = uint64(ctx[in.off/4])
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X:
			reg[dst] = reg[src]
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K:
			reg[dst] = imm
		case unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K:
			reg[dst] &= imm
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			reg[dst] = uint64(uint32(reg[dst]) >> uint32(in.imm))
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			reg[dst] = uint64(uint32(reg[dst]) & uint32(in.imm))
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			if reg[dst] != imm {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if reg[dst] == imm {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_EXIT:
			return reg[r0] == 1
		default:
			t.Fatalf("pc %d: opcode %#x not expected", pc, in.code)
		}
	}
	t.Fatal("the program ran off its end")
	return false
}

// randomRules draws rule lists over a small set of numbers, so that rules
// overlap often.
func randomRules(rng *rand.Rand) []devRule {
	n := rng.IntN(7)
	var rules []devRule
	nums := []int64{-1, 1, 3}
	for range n {
		typ := []byte{'a', 'c', 'b'}[rng.IntN(3)]
		major, minor := nums[rng.IntN(3)], nums[rng.IntN(3)]
		if typ == 'a' {
			major, minor = -1, -1
		}
		a := uint8(rng.IntN(7) + 1)
		rules = append(rules, devRule{allow: rng.IntN(2) == 0, typ: typ, major: major, minor: minor, access: a, src: "random"})
	}
	return rules
}

// The v1 list and the eBPF program must both mean exactly what decide
// says, for every device and access, on thousands of random rule lists.
func TestV1AndBPFAgreeWithDecide(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var refused, checked int
	for range 4000 {
		rules := randomRules(rng)
		prog := deviceProgram(rules)
		v, err := toV1(rules)
		if err != nil {
			refused++
		}
		for _, typ := range []byte{'c', 'b'} {
			for _, major := range []int64{1, 2, 3} {
				for _, minor := range []int64{1, 2, 3} {
					for a := uint8(1); a <= 7; a++ {
						want := decide(rules, typ, major, minor, a)
						if got := bpfRun(t, prog, typ, major, minor, a); got != want {
							t.Fatalf("rules %v: eBPF says %v for %c %d:%d %s, decide says %v", rules, got, typ, major, minor, accessString(a), want)
						}
						if err == nil {
							checked++
							if got := kernelV1(v, typ, major, minor, a); got != want {
								t.Fatalf("rules %v: v1 list %q says %v for %c %d:%d %s, decide says %v", rules, v.writes(), got, typ, major, minor, accessString(a), want)
							}
						}
					}
				}
			}
		}
	}
	// Most lists must be expressible in v1, or the check above proves little.
	if refused > 2000 {
		t.Errorf("toV1 refused %d of 4000 random lists", refused)
	}
	t.Logf("v1 refused %d of 4000 lists; %d v1 decisions checked", refused, checked)
}

func TestDeviceRulesFromLinuxDevices(t *testing.T) {
	_, problems := deviceRules(nil, []rspec.LinuxDevice{{Path: "/dev/x", Type: "q"}, {Path: "/dev/y", Type: "b", Major: -3}})
	want := []string{`linux.devices[0].type: "q" is not c, u, b or p`, "linux.devices[1]: -3:0 is not a Linux device number"}
	if got := problemStrings(problems); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func ExampleProblemsError() {
	err := ProblemsError{{Path: "linux.resources.rdma", Msg: "no rdma controller on this host"},
		{Path: "linux.resources.memory.swappiness", Msg: "cgroup v2 has no per-cgroup swappiness"}}
	fmt.Println(err)
	// Output:
	// linux.resources.rdma: no rdma controller on this host
	// linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness
}
