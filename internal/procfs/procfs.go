// Package procfs is minirun's one reader of the /proc files it parses in
// more than one place: mountinfo (with its octal escapes undone, so a
// mount point with a space in it reads as itself), the "Key: value" lines
// of a status file, and the fields of a stat line (whose command name may
// hold spaces and parentheses). Each parser takes the file's bytes, so the
// tests feed it text; Read* read the file.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A Mount is one line of /proc/PID/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
type Mount struct {
	ID, Parent   int
	Major, Minor int
	// Root is the path within the filesystem that forms the mount's root;
	// Point the mount point, relative to the reader's root.
	Root, Point string
	// Options are the per-mount options (rw, nosuid…); Optional the
	// propagation fields: shared:N, master:N, propagate_from:N, unbindable.
	Options, Optional []string
	FSType, Source    string
	// Super are the superblock's options.
	Super []string
}

// ParseMountinfo parses the text of a mountinfo file. Paths and the
// source come back unescaped ("\040" is a space).
func ParseMountinfo(data []byte) ([]Mount, error) {
	var ms []Mount
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if len(line) == 0 {
			continue
		}
		m, err := parseMountLine(string(line))
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func parseMountLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+3 >= len(f) {
		return Mount{}, fmt.Errorf("mountinfo line %q: want 6 fields, optional ones, \"-\" and 3 more", line)
	}
	var m Mount
	var err1, err2 error
	m.ID, err1 = strconv.Atoi(f[0])
	m.Parent, err2 = strconv.Atoi(f[1])
	maj, min, ok := strings.Cut(f[2], ":")
	if err1 != nil || err2 != nil || !ok {
		return Mount{}, fmt.Errorf("mountinfo line %q: bad ids", line)
	}
	if m.Major, err1 = strconv.Atoi(maj); err1 == nil {
		m.Minor, err1 = strconv.Atoi(min)
	}
	if err1 != nil {
		return Mount{}, fmt.Errorf("mountinfo line %q: bad device %q", line, f[2])
	}
	m.Root, m.Point = Unescape(f[3]), Unescape(f[4])
	m.Options = strings.Split(f[5], ",")
	m.Optional = f[6:sep:sep]
	m.FSType, m.Source = Unescape(f[sep+1]), Unescape(f[sep+2])
	m.Super = strings.Split(f[sep+3], ",")
	return m, nil
}

// ReadMountinfo reads and parses a mountinfo file ("/proc/self/mountinfo").
func ReadMountinfo(file string) ([]Mount, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(data)
}

// Unescape undoes the octal escapes the kernel writes in mountinfo for a
// space, tab, newline and backslash (\040, \011, \012, \134). A backslash
// not followed by three octal digits is kept as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && octal(s[i+1]) && octal(s[i+2]) && octal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(c byte) bool { return c >= '0' && c <= '7' }

// ParseStatus parses the "Key:\tvalue" lines of a status file (status,
// meminfo). Each value has its runs of blanks made one space: "Uid: 0 0 0 0".
func ParseStatus(data []byte) map[string]string {
	m := map[string]string{}
	for line := range bytes.Lines(data) {
		if k, v, ok := bytes.Cut(line, []byte{':'}); ok {
			m[string(k)] = strings.Join(strings.Fields(string(v)), " ")
		}
	}
	return m
}

// ReadStatus reads and parses a status file ("/proc/self/status").
func ReadStatus(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseStatus(data), nil
}

// ParseStat splits a /proc/PID/stat line into the command name and the
// fields after it, from the state (proc(5)'s field 3) on. The name is in
// parentheses and may hold spaces and parentheses itself, so it ends at
// the last ')'.
func ParseStat(text string) (comm string, fields []string, err error) {
	open, end := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 0 || end < open {
		return "", nil, fmt.Errorf("stat %q: no command name", strings.TrimSpace(text))
	}
	fields = strings.Fields(text[end+1:])
	if len(fields) == 0 {
		return "", nil, fmt.Errorf("stat %q: no state after the command name", strings.TrimSpace(text))
	}
	return text[open+1 : end], fields, nil
}
