# minirun: a container runtime and task lab built on one clone core.
GO      ?= go
BIN     := bin/minirun
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# -E: minirun starts at a stub (internal/boot) that notes the time, for
# run --trace's timeline, and on amd64 does the binary's guard
# (CVE-2019-5736) for run, create and exec, before the Go runtime starts.
LDFLAGS := -s -w -X main.commit=$(COMMIT) -E github.com/minirun/minirun/internal/boot.entry
# urfave/cli's man-page and markdown generators (blackfriday) are not used:
# leaving them out saves a fifth of a millisecond at every start.
TAGS    := urfave_cli_no_docs
export CGO_ENABLED = 0

.PHONY: all build test bench soak demo lint clean e2e e2e-tools

all: build

build:
	$(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/minirun

# The whole suite. Tests that need root skip with a reason when not root.
# One package at a time (-p 1): the container tests check that nothing is
# left on the host (mounts, cgroups, state), which another package's
# containers, running at the same moment, would look like.
test: build lint e2e-tools
	$(GO) test -p 1 -count=1 -timeout 30m ./...

# Many containers, none may leave anything (container/soak_test.go): 1000
# sequential and 200 concurrent runs, 1000 create/start/kill/delete cycles,
# 200 runs and creates killed with SIGKILL at random, then delete --force.
# make test runs a short version (50/20/50/20).
soak: build
	MINIRUN_SOAK=full $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 60m ./container/

# Real clients drive the runtime (podman, ctr, crictl + containerd's CRI
# plugin, the runtime-tools validation programs): see e2e/doc.go. The
# runtime is MINIRUN_E2E_RUNTIME (e.g. /usr/sbin/runc), or else the minirun
# the tests build. Tools built from the Go module proxy are kept in E2E_TOOLS.
E2E_TOOLS := $(CURDIR)/bin/e2e
CRICTL    := sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
e2e: e2e-tools
	MINIRUN_E2E_TOOLS=$(E2E_TOOLS) $(GO) test -count=1 -timeout 15m -v ./e2e/

# crictl, once (the tests build the runtime-tools programs there too).
e2e-tools:
	@test -x $(E2E_TOOLS)/crictl || GOBIN=$(E2E_TOOLS) $(GO) install $(CRICTL)

# Benchmarks against the named peers, in one run on this machine.
bench: build
	bench/threads.sh
	bench/run.sh
	bench/seccomp.sh

# The main job on embedded defaults: no downloads, no hand-made rootfs.
demo: build
	scripts/demo.sh $(BIN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	GOARCH=arm64 $(GO) build -o /dev/null ./...

clean:
	rm -rf bin bench/out
