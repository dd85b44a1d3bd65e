package cgroups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// OOMKills is how many processes the OOM killer has killed in the
// cgroup: v1's memory.oom_control or cgroup2's memory.events, oom_kill.
func (m *Manager) OOMKills() (uint64, error) {
	key, ok := m.h.where("memory")
	if !ok {
		return 0, errors.New(m.h.missing("memory"))
	}
	file := "memory.oom_control"
	if key == "" {
		file = "memory.events"
	}
	ev, err := readKeyed(m.dirs[key], file)
	if err != nil {
		return 0, err
	}
	return ev["oom_kill"], nil
}

// Events streams the container's events for `minirun events`: a "stats"
// event every interval (none when interval is 0) and an "oom" event each
// time the cgroup runs out of memory. The channel closes when stop is
// closed or the cgroup is removed. The caller fills in Event.ID.
func (m *Manager) Events(interval time.Duration, stop <-chan struct{}) (<-chan Event, error) {
	oom, closeOOM, err := m.notifyOOM()
	if err != nil {
		return nil, err
	}
	ch := make(chan Event)
	go func() {
		defer close(ch)
		defer closeOOM()
		var tick <-chan time.Time
		if interval > 0 {
			t := time.NewTicker(interval)
			defer t.Stop()
			tick = t.C
		}
		send := func(e Event) bool {
			select {
			case ch <- e:
				return true
			case <-stop:
				return false
			}
		}
		for {
			select {
			case <-stop:
				return
			case _, ok := <-oom:
				if !ok || !send(Event{Type: "oom"}) {
					return
				}
			case <-tick:
				s, err := m.Stats()
				if err != nil && !fileExists(m.primary()) {
					return
				}
				if !send(Event{Type: "stats", Data: s}) {
					return
				}
			}
		}
	}()
	return ch, nil
}

// notifyOOM returns a channel that receives a value at each OOM in the
// cgroup and closes when the cgroup is removed; a nil channel when the
// host has no memory controller (then nothing is ever out of memory in
// a cgroup). v1 registers an eventfd on memory.oom_control through
// cgroup.event_control; cgroup2 watches memory.events with inotify and
// counts oom_kill.
func (m *Manager) notifyOOM() (<-chan struct{}, func(), error) {
	key, ok := m.h.where("memory")
	if !ok {
		return nil, func() {}, nil
	}
	dir := m.dirs[key]
	if key != "" {
		return notifyOOMV1(dir)
	}
	return notifyOOMV2(dir)
}

func notifyOOMV1(dir string) (<-chan struct{}, func(), error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(efd), "oom eventfd")
	oc, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		ev.Close()
		return nil, nil, err
	}
	defer oc.Close()
	if err := writeFile(dir, "cgroup.event_control", strconv.Itoa(efd)+" "+strconv.Itoa(int(oc.Fd()))); err != nil {
		ev.Close()
		return nil, nil, err
	}
	ch, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ch)
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return
			}
			// The kernel also signals the eventfd when the cgroup goes.
			if !fileExists(dir) {
				return
			}
			for n := binary.NativeEndian.Uint64(buf); n > 0; n-- {
				select {
				case ch <- struct{}{}:
				case <-done:
					return
				}
			}
		}
	}()
	return ch, func() { close(done); ev.Close() }, nil
}

func notifyOOMV2(dir string) (<-chan struct{}, func(), error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, nil, fmt.Errorf("inotify: %w", err)
	}
	in := os.NewFile(uintptr(ifd), "inotify")
	if _, err := unix.InotifyAddWatch(ifd, filepath.Join(dir, "memory.events"), unix.IN_MODIFY); err != nil {
		in.Close()
		return nil, nil, fmt.Errorf("watching memory.events: %w", err)
	}
	last, err := readKeyed(dir, "memory.events")
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	seen := last["oom_kill"]
	ch, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			if _, err := in.Read(buf); err != nil {
				return
			}
			ev, err := readKeyed(dir, "memory.events")
			if err != nil {
				return // the cgroup is gone
			}
			for ; seen < ev["oom_kill"]; seen++ {
				select {
				case ch <- struct{}{}:
				case <-done:
					return
				}
			}
		}
	}()
	return ch, func() { close(done); in.Close() }, nil
}
