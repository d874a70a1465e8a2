package faultfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/osirisplane/osiris/platform/faultfs"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(mmapChildEnv); path != "" {
		os.Exit(mmapChild(path))
	}
	goleak.VerifyTestMain(m)
}

// mounted is a fault filesystem over a fresh backing directory.
type mounted struct {
	fs        *faultfs.FS
	disk, mnt string
}

func mount(t *testing.T, opts faultfs.Options) *mounted {
	t.Helper()
	if err := faultfs.Supported(); err != nil {
		t.Skip(err)
	}
	root := t.TempDir()
	m := &mounted{disk: filepath.Join(root, "disk"), mnt: filepath.Join(root, "mnt")}
	for _, d := range []string{m.disk, m.mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if m.fs, err = faultfs.Mount(m.disk, m.mnt, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.fs.Unmount() })
	return m
}

// crash cuts the power and unmounts: m.disk then holds what survived.
func (m *mounted) crash(t *testing.T) {
	t.Helper()
	m.fs.Cut()
	if err := m.fs.Unmount(); err != nil {
		t.Fatal(err)
	}
}

func (m *mounted) path(name string) string { return filepath.Join(m.mnt, name) }

func write(t *testing.T, path string, data []byte, flag int, sync bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func wantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes %.40q, want %d bytes %.40q", path, len(got), got, len(want), want)
	}
}

func wantGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s survived the cut (err %v)", path, err)
	}
}

func TestCutKeepsSyncedDataAndDropsTheRest(t *testing.T) {
	m := mount(t, faultfs.Options{})
	write(t, m.path("a"), []byte("synced"), 0, true)
	syncDir(t, m.mnt)
	write(t, m.path("a"), []byte(" and lost"), os.O_APPEND, false)
	write(t, m.path("b"), []byte("never synced"), 0, false)
	write(t, m.path("c"), []byte("synced, but its name never was"), 0, true)
	wantFile(t, m.path("a"), []byte("synced and lost")) // the page cache sees every write
	m.crash(t)
	wantFile(t, filepath.Join(m.disk, "a"), []byte("synced"))
	wantGone(t, filepath.Join(m.disk, "b"))
	wantGone(t, filepath.Join(m.disk, "c"))
}

func TestOrderedMetadataCommitsNamesAndSizesOnAnyFsync(t *testing.T) {
	m := mount(t, faultfs.Options{OrderedMetadata: true})
	write(t, m.path("e"), []byte("not synced"), 0, false)
	if err := os.Truncate(m.path("e"), 8192); err != nil {
		t.Fatal(err)
	}
	write(t, m.path("c"), []byte("synced"), 0, true)      // commits e's name and size
	write(t, m.path("d"), []byte("not synced"), 0, false) // created after: not committed
	m.crash(t)
	wantFile(t, filepath.Join(m.disk, "c"), []byte("synced"))
	wantFile(t, filepath.Join(m.disk, "e"), make([]byte, 8192))
	wantGone(t, filepath.Join(m.disk, "d"))
}

func TestOverwriteAndTruncateAreUndone(t *testing.T) {
	m := mount(t, faultfs.Options{})
	orig := bytes.Repeat([]byte("0123456789abcdef"), 3*4096/16+7) // three pages and a bit
	write(t, m.path("f"), orig, 0, true)
	syncDir(t, m.mnt)
	f, err := os.OpenFile(m.path("f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XXXX"), 4094); err != nil { // across a page boundary
		t.Fatal(err)
	}
	if err := f.Truncate(100); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(20000); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("YYYY"), 9000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m.crash(t)
	wantFile(t, filepath.Join(m.disk, "f"), orig)
}

func TestNameChangesNeedADirectorySync(t *testing.T) {
	m := mount(t, faultfs.Options{})
	for _, name := range []string{"a", "b", "c"} {
		write(t, m.path(name), []byte(name), 0, true)
	}
	if err := os.Mkdir(m.path("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, m.mnt)
	// Durable: a renamed into sub/, then the directory synced.
	if err := os.Rename(m.path("a"), m.path("sub/a")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, m.path("sub"))
	// Not durable: b replaces c, c is gone, a new directory, a new file in it.
	if err := os.Rename(m.path("b"), m.path("c")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(m.path("sub/a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(m.path("new"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, m.path("new/x"), []byte("x"), 0, true)
	m.crash(t)
	wantFile(t, filepath.Join(m.disk, "sub/a"), []byte("a"))
	wantFile(t, filepath.Join(m.disk, "b"), []byte("b"))
	wantFile(t, filepath.Join(m.disk, "c"), []byte("c"))
	wantGone(t, filepath.Join(m.disk, "a"))
	wantGone(t, filepath.Join(m.disk, "new"))
}

func TestNothingChangesAfterTheCut(t *testing.T) {
	m := mount(t, faultfs.Options{})
	f, err := os.Create(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.fs.Cut()
	if _, err := f.Write([]byte("late")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write after the cut: %v, want EIO", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync after the cut: %v, want EIO", err)
	}
}

func TestCleanUnmountKeepsEverything(t *testing.T) {
	m := mount(t, faultfs.Options{})
	write(t, m.path("a"), []byte("kept"), 0, false)
	if err := m.fs.Unmount(); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(m.disk, "a"), []byte("kept"))
}

// What the model does not cover is refused, not done behind its back.
func TestUnmodelledOperationsAreRefused(t *testing.T) {
	m := mount(t, faultfs.Options{})
	write(t, m.path("a"), []byte("a"), 0, true)
	if err := os.Link(m.path("a"), m.path("hard")); !errors.Is(err, syscall.ENOTSUP) {
		t.Errorf("link: %v, want ENOTSUP", err)
	}
	if err := os.Symlink("a", m.path("sym")); !errors.Is(err, syscall.ENOTSUP) {
		t.Errorf("symlink: %v, want ENOTSUP", err)
	}
	if err := syscall.Mkfifo(m.path("fifo"), 0o644); !errors.Is(err, syscall.ENOTSUP) {
		t.Errorf("mkfifo: %v, want ENOTSUP", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, m.path("a"), unix.AT_FDCWD, m.path("b"), unix.RENAME_EXCHANGE); err == nil {
		t.Error("rename with RENAME_EXCHANGE succeeded")
	}
}

func TestMountpointInsideTheBackingDirectoryIsRefused(t *testing.T) {
	if err := faultfs.Supported(); err != nil {
		t.Skip(err)
	}
	disk := t.TempDir()
	for _, mnt := range []string{disk, filepath.Join(disk, "mnt")} {
		if _, err := faultfs.Mount(disk, mnt, faultfs.Options{}); err == nil {
			t.Fatalf("mounting %s over its own backing directory %s succeeded", mnt, disk)
		}
	}
}
