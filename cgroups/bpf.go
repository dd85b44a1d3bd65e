package cgroups

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// insn is one eBPF instruction as the kernel reads it (struct bpf_insn):
// opcode, destination and source registers in one byte (destination in
// the low nibble on a little-endian machine; amd64 and arm64 both are),
// a jump offset and an immediate.
type insn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

// Registers. R1 holds the program's context on entry and R0 its result.
const (
	r0 = iota
	r1
	r2
	r3
	r4
	r5
)

func ldxW(dst, src uint8, off int16) insn {
	return insn{code: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, regs: dst | src<<4, off: off}
}
func movReg(dst, src uint8) insn {
	return insn{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X, regs: dst | src<<4}
}
func movImm(dst uint8, imm int32) insn {
	return insn{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: dst, imm: imm}
}
func andImm(dst uint8, imm int32) insn {
	return insn{code: unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K, regs: dst, imm: imm}
}
func rshImm32(dst uint8, imm int32) insn {
	return insn{code: unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K, regs: dst, imm: imm}
}
func andImm32(dst uint8, imm int32) insn {
	return insn{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, regs: dst, imm: imm}
}
func jneImm(dst uint8, imm int32, off int16) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K, regs: dst, off: off, imm: imm}
}
func jeqImm(dst uint8, imm int32, off int16) insn {
	return insn{code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, regs: dst, off: off, imm: imm}
}
func exit() insn { return insn{code: unix.BPF_JMP | unix.BPF_EXIT} }

// deviceProgram compiles a rule list into a BPF_PROG_TYPE_CGROUP_DEVICE
// program with decide's meaning. The kernel runs it at every open and
// mknod of a device node by a task in the cgroup, with the device's type,
// access bits and numbers in struct bpf_cgroup_dev_ctx; it returns 1 to
// allow and 0 for EPERM.
//
// R3 holds the access bits not yet granted. The rules are tried from the
// last to the first: a matching allow rule clears its bits from R3 and
// allows once none is left; a matching deny rule that names a bit still
// in R3 denies. Every jump is forward and short (to the next rule), so
// the verifier takes any number of rules.
func deviceProgram(rules []devRule) []insn {
	rules = effective(rules)
	p := []insn{
		ldxW(r2, r1, 0),      // access_type: (access << 16) | type
		movReg(r3, r2),       //
		rshImm32(r3, 16),     // r3 = the access bits asked for
		andImm32(r2, 0xffff), // r2 = the device type
		ldxW(r4, r1, 4),      // r4 = major
		ldxW(r5, r1, 8),      // r5 = minor
		andImm(r3, accAll),   // only the bits a rule can name
		jeqImm(r3, 0, 0),     // nothing asked: allow (offset set below)
	}
	askNothing := len(p) - 1
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		var block []insn
		var checks []insn
		if r.typ != 'a' {
			t := int32(unix.BPF_DEVCG_DEV_CHAR)
			if r.typ == 'b' {
				t = unix.BPF_DEVCG_DEV_BLOCK
			}
			checks = append(checks, jneImm(r2, t, 0))
		}
		if r.major >= 0 {
			checks = append(checks, jneImm(r4, int32(r.major), 0))
		}
		if r.minor >= 0 {
			checks = append(checks, jneImm(r5, int32(r.minor), 0))
		}
		if r.allow {
			block = []insn{andImm(r3, ^int32(r.access)), jneImm(r3, 0, 2), movImm(r0, 1), exit()}
		} else {
			block = []insn{movReg(r1, r3), andImm(r1, int32(r.access)), jeqImm(r1, 0, 2), movImm(r0, 0), exit()}
		}
		// Each check skips the rest of this rule when the device differs.
		for j := range checks {
			checks[j].off = int16(len(checks) - 1 - j + len(block))
		}
		p = append(p, checks...)
		p = append(p, block...)
	}
	// No rule granted every bit: deny.
	p = append(p, movImm(r0, 0), exit())
	// The empty request jumps to an allow exit after the deny.
	p = append(p, movImm(r0, 1), exit())
	p[askNothing].off = int16(len(p) - 2 - askNothing - 1)
	return p
}

// bpf(2) attribute layouts, the leading fields of union bpf_attr that
// each command reads; the kernel zero-fills the rest.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type progGetFdAttr struct {
	progID    uint32
	nextID    uint32
	openFlags uint32
}

func bpfCall(cmd uintptr, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
		if errno == unix.EINTR || errno == unix.EAGAIN {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return r, nil
	}
}

// license is what the program declares to the kernel; it calls no kernel
// helper, so the value restricts nothing.
var license = []byte("GPL\x00")

// loadDeviceProgram loads the program and returns its fd. On failure it
// loads it again with the verifier's log, to say why.
func loadDeviceProgram(prog []insn) (int, error) {
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "minirun_devices")
	fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(prog)
	if err == nil {
		return int(fd), nil
	}
	log := make([]byte, 64*1024)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	if fd, err2 := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 == nil {
		// Loaded the second time after all: keep it.
		return int(fd), nil
	}
	runtime.KeepAlive(prog)
	runtime.KeepAlive(log)
	if n := cstrlen(log); n > 0 {
		return -1, fmt.Errorf("loading the device program: %w; verifier: %s", err, log[:n])
	}
	return -1, fmt.Errorf("loading the device program: %w", err)
}

func cstrlen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// attachDeviceProgram attaches prog to the cgroup directory dir and
// detaches any other device program attached there before (a leftover in
// a reused cgroup). BPF_F_ALLOW_MULTI makes it run beside the programs of
// the cgroups above rather than replace them, and lets no cgroup below
// override it; a device must pass them all.
func attachDeviceProgram(dir string, prog []insn) error {
	dfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(dfd)
	old, err := deviceProgramIDs(dfd)
	if err != nil {
		return err
	}
	pfd, err := loadDeviceProgram(prog)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	attach := progAttachAttr{targetFd: uint32(dfd), attachBpfFd: uint32(pfd), attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI}
	if _, err := bpfCall(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("attaching the device program to %s: %w", dir, err)
	}
	// Ours is in place; only now drop the old ones, so the cgroup is never
	// without a device program.
	for _, id := range old {
		get := progGetFdAttr{progID: id}
		ofd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
		if err != nil {
			return fmt.Errorf("detaching an earlier device program from %s: %w", dir, err)
		}
		detach := progAttachAttr{targetFd: uint32(dfd), attachBpfFd: uint32(ofd), attachType: unix.BPF_CGROUP_DEVICE}
		_, err = bpfCall(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach))
		unix.Close(int(ofd))
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detaching an earlier device program from %s: %w", dir, err)
		}
	}
	return nil
}

// deviceProgramIDs lists the device programs attached to the cgroup
// itself (not those inherited from above).
func deviceProgramIDs(dfd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	q := progQueryAttr{targetFd: uint32(dfd), attachType: unix.BPF_CGROUP_DEVICE,
		progIDs: uint64(uintptr(unsafe.Pointer(&ids[0]))), progCnt: uint32(len(ids))}
	_, err := bpfCall(unix.BPF_PROG_QUERY, unsafe.Pointer(&q), unsafe.Sizeof(q))
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, fmt.Errorf("querying the cgroup's device programs: %w", err)
	}
	return ids[:q.progCnt], nil
}
