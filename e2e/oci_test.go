package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Images are written here as OCI image archives (an OCI image layout in a
// tar: oci-layout, index.json, blobs/sha256/…) by plain Go, rather than
// with `podman import` + `podman save`: the containerd and CRI tests then
// need no podman, nothing depends on a store's state, and the bytes are the
// same every run (fixed times and owners), so each archive has one digest.
// Both clients read the same file: `podman load` and
// `ctr images import` take the name from the index's annotations.

// Image names: only local ones, never a registry's.
const (
	busyboxImage = "localhost/minirun-e2e/busybox:1"
	pauseImage   = "localhost/minirun-e2e/pause:1"
)

// layerFile is one entry of a layer.
type layerFile struct {
	name     string // path in the rootfs, without a leading slash
	mode     int64  // permission bits
	typ      byte   // tar.TypeReg, TypeDir, TypeSymlink
	linkname string
	data     []byte
}

// imageConfig is the part of an OCI image config the tests set.
type imageConfig struct {
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	Env        []string `json:"Env,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

// epoch is every file's and the image's time: a fixed one keeps digests
// the same from run to run.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// layerTar writes files as an uncompressed tar (parents before children).
func layerTar(files []layerFile) ([]byte, error) {
	sort.SliceStable(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: f.name, Mode: f.mode, Typeflag: f.typ, Linkname: f.linkname,
			ModTime: epoch, Format: tar.FormatPAX, Uname: "root", Gname: "root",
		}
		if f.typ == tar.TypeDir {
			h.Name += "/"
		}
		if f.typ == tar.TypeReg {
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if f.typ == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    map[string]string `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func blobDescriptor(mediaType string, b []byte) descriptor {
	sum := sha256.Sum256(b)
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(b))}
}

// writeImageArchive writes an OCI image archive of one layer (an
// uncompressed tar) named name to file.
func writeImageArchive(file, name string, layer []byte, cfg imageConfig) error {
	layerDesc := blobDescriptor("application/vnd.oci.image.layer.v1.tar", layer)
	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
		"history":      []map[string]string{{"created": epoch.Format(time.RFC3339), "created_by": "minirun e2e tests"}},
	})
	if err != nil {
		return err
	}
	configDesc := blobDescriptor("application/vnd.oci.image.config.v1+json", config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        []descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	manifestDesc := blobDescriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc.Platform = map[string]string{"architecture": runtime.GOARCH, "os": "linux"}
	// containerd names the image from io.containerd.image.name; podman
	// from org.opencontainers.image.ref.name, which it takes whole when it
	// is a full name.
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name":          name,
		"org.opencontainers.image.ref.name": name,
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifestDesc},
	})
	if err != nil {
		return err
	}
	files := []layerFile{
		{name: "oci-layout", mode: 0o644, typ: tar.TypeReg, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", mode: 0o644, typ: tar.TypeReg, data: index},
		{name: "blobs", mode: 0o755, typ: tar.TypeDir},
		{name: "blobs/sha256", mode: 0o755, typ: tar.TypeDir},
	}
	for _, b := range []struct {
		d descriptor
		b []byte
	}{{layerDesc, layer}, {configDesc, config}, {manifestDesc, manifest}} {
		files = append(files, layerFile{name: "blobs/sha256/" + strings.TrimPrefix(b.d.Digest, "sha256:"), mode: 0o644, typ: tar.TypeReg, data: b.b})
	}
	archive, err := layerTar(files)
	if err != nil {
		return err
	}
	return os.WriteFile(file, archive, 0o644)
}

// busyboxFiles is a rootfs of Debian's static busybox: /bin/busybox, a
// link for each applet where busybox puts it, the folders a runtime mounts
// on, and the passwd and group files tools look users up in.
func busyboxFiles() ([]layerFile, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	dirs := map[string]int64{
		"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
		"dev": 0o755, "proc": 0o755, "sys": 0o755, "etc": 0o755, "root": 0o700,
		"tmp": 0o1777, "run": 0o755, "var": 0o755, "var/tmp": 0o1777,
	}
	files := []layerFile{
		{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, data: bb},
		{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{name: "etc/group", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "bin/busybox" {
			continue
		}
		dir := path.Dir(p)
		if _, ok := dirs[dir]; !ok {
			dirs[dir] = 0o755
		}
		target, err := filepath.Rel(dir, "bin/busybox")
		if err != nil {
			return nil, err
		}
		files = append(files, layerFile{name: p, typ: tar.TypeSymlink, linkname: target, mode: 0o777})
	}
	for d, mode := range dirs {
		files = append(files, layerFile{name: d, mode: mode, typ: tar.TypeDir})
	}
	return files, nil
}

// The images, made once per run.
var (
	imagesMu      sync.Mutex
	busyboxLayer  []byte
	busyboxOCI    string
	pauseOCI      string
	busyboxTarGz  string
	imagesDirOnce string
)

func imagesDir(t *testing.T) string {
	t.Helper()
	if imagesDirOnce == "" {
		d := filepath.Join(workDir, "images")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		imagesDirOnce = d
	}
	return imagesDirOnce
}

func busyboxRootfsLayer(t *testing.T) []byte {
	t.Helper()
	needFile(t, "/bin/busybox", "busybox-static")
	if busyboxLayer == nil {
		files, err := busyboxFiles()
		if err != nil {
			t.Fatal(err)
		}
		if busyboxLayer, err = layerTar(files); err != nil {
			t.Fatal(err)
		}
	}
	return busyboxLayer
}

// busyboxArchive returns the busybox image as an OCI archive.
func busyboxArchive(t *testing.T) string {
	t.Helper()
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if busyboxOCI == "" {
		layer := busyboxRootfsLayer(t)
		f := filepath.Join(imagesDir(t), "busybox.oci.tar")
		err := writeImageArchive(f, busyboxImage, layer, imageConfig{
			Cmd: []string{"/bin/sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		})
		if err != nil {
			t.Fatal(err)
		}
		busyboxOCI = f
	}
	return busyboxOCI
}

// busyboxRootfsTarGz returns the busybox rootfs as a gzipped tar: the
// rootfs-GOARCH.tar.gz the validation programs unpack into each bundle.
func busyboxRootfsTarGz(t *testing.T) string {
	t.Helper()
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if busyboxTarGz == "" {
		layer := busyboxRootfsLayer(t)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(layer); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(imagesDir(t), "busybox.tar.gz")
		if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		busyboxTarGz = f
	}
	return busyboxTarGz
}

// pauseArchive returns the pause image as an OCI archive: testdata/pause
// built static, as /pause, its entrypoint.
func pauseArchive(t *testing.T) string {
	t.Helper()
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if pauseOCI == "" {
		bin := filepath.Join(imagesDir(t), "pause")
		src, err := filepath.Abs(filepath.Join("testdata", "pause"))
		if err != nil {
			t.Fatal(err)
		}
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
		build.Dir = src
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the pause program: %v\n%s", err, out)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		layer, err := layerTar([]layerFile{{name: "pause", mode: 0o755, typ: tar.TypeReg, data: data}})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(imagesDir(t), "pause.oci.tar")
		if err := writeImageArchive(f, pauseImage, layer, imageConfig{Entrypoint: []string{"/pause"}}); err != nil {
			t.Fatal(err)
		}
		pauseOCI = f
	}
	return pauseOCI
}

// copyFile copies src to dst with mode.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
