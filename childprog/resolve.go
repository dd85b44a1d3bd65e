package childprog

import (
	"errors"
	"path"
	"strings"
)

// An ImageEntry says what the image has at rel, a clean path relative to
// the rootfs none of whose directories is a symlink: whether anything is
// there, and the target of a symlink. CompileEnv.ImageEntry reads the
// rootfs; the compile itself reads nothing.
type ImageEntry func(rel string) (link string, isLink, exists bool)

// maxLinks is how many symlinks a resolution follows before it gives up,
// as the kernel's path walk does (ELOOP).
const maxLinks = 40

var errLoop = errors.New("too many levels of symbolic links in the image")

// resolveInImage follows the image's symlinks along dest the way
// openat2(RESOLVE_IN_ROOT) does — an absolute target starts again at the
// rootfs, ".." stops at it — and returns the path, relative to the rootfs,
// that the child creates and mounts on. Unlike RESOLVE_IN_ROOT it also
// follows a link whose target does not exist yet (Ubuntu's
// /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf): from the
// first missing component on, the rest is taken as written, to be created.
//
// covered holds the resolved destinations of the mounts made before this
// one: below them the child sees those mounts, not the image, so the walk
// stops there and the rest is left as written, for the child's own
// RESOLVE_IN_ROOT to follow.
//
// The result is the parent's reading of the image before the clone. The
// child still creates and opens each component with RESOLVE_IN_ROOT from
// the rootfs (rule 12), so an image that changes in between can make a
// mount fail or land elsewhere in the rootfs, never outside it.
func resolveInImage(dest string, entry ImageEntry, covered mountedSet) (string, error) {
	var done []string // resolved components: none is a symlink
	rest := strings.Split(dest, "/")
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := path.Join(append(done, part)...)
		if covered.covers(cand) {
			return lexical(append(done, part), rest), nil
		}
		link, isLink, exists := entry(cand)
		if !exists {
			// Nothing there yet: the child makes this and what follows.
			return lexical(append(done, part), rest), nil
		}
		if !isLink {
			done = append(done, part)
			continue
		}
		if links++; links > maxLinks {
			return "", errLoop
		}
		if strings.HasPrefix(link, "/") {
			done = nil
		}
		rest = append(strings.Split(link, "/"), rest...)
	}
	return path.Join(done...), nil
}

// lexical appends parts to dir as written, ".." removing the last
// component but never leaving the rootfs.
func lexical(dir, parts []string) string {
	for _, p := range parts {
		switch p {
		case "", ".":
		case "..":
			if len(dir) > 0 {
				dir = dir[:len(dir)-1]
			}
		default:
			dir = append(dir, p)
		}
	}
	return path.Join(dir...)
}

// mountedSet holds the resolved destinations mounted on so far, relative
// to the rootfs ("" is the rootfs itself). A set, not a list: each
// component of each mount's destination is looked up in it, and a list
// scanned for every one made a config's compile grow with the square of
// its mounts (50 ms at a thousand).
type mountedSet map[string]bool

// covers reports whether rel is one of the set or lies below one.
func (s mountedSet) covers(rel string) bool {
	if len(s) == 0 {
		return false
	}
	if s[""] || s[rel] {
		return true
	}
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && s[rel[:i]] {
			return true
		}
	}
	return false
}

// inImage reports whether the image has every component of rel (a path
// resolveInImage returned) as itself — there, not a symlink, and below no
// mount made before (covered): then the child has nothing to make along
// it and opens rel at once (builder.openTarget), one step where making
// each component takes three. Should the image change in between, the
// open fails with the field named, and still resolves inside the rootfs.
func inImage(rel string, entry ImageEntry, covered mountedSet) bool {
	if rel == "" || entry == nil {
		return false
	}
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		cand := rel[:i]
		if covered.covers(cand) {
			return false
		}
		if _, isLink, exists := entry(cand); !exists || isLink {
			return false
		}
	}
	return true
}
