package faultfs_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/osirisplane/osiris/platform/faultfs"
)

// The memory-map tests touch the mount from a child process: a process that faults in pages
// of its own FUSE mount can deadlock (the faulting thread cannot reach a GC safepoint while
// it waits for the server goroutines, which the GC has stopped).
const mmapChildEnv = "FAULTFS_TEST_MMAP_FILE"

const mmapSize = 16 * 4096

// mmapChild maps path (mmapSize bytes, shared, writable) and runs the commands it reads, one
// a line, answering "ok" or the error: "write OFF TEXT", "msync", "close".
func mmapChild(path string) int {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	data, err := unix.Mmap(int(f.Fd()), 0, mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var err error
		switch cmd := strings.SplitN(in.Text(), " ", 3); cmd[0] {
		case "write":
			var off int
			if _, err = fmt.Sscan(cmd[1], &off); err == nil {
				copy(data[off:], cmd[2])
			}
		case "msync":
			err = unix.Msync(data, unix.MS_SYNC)
		case "close":
			err = unix.Munmap(data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("ok")
	}
	return 0
}

type mmapper struct {
	cmd *exec.Cmd
	in  *bufio.Writer
	out *bufio.Scanner
}

func startMmapper(t *testing.T, path string) *mmapper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mmapChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &mmapper{cmd: cmd, in: bufio.NewWriter(in), out: bufio.NewScanner(out)}
	t.Cleanup(m.kill)
	return m
}

func (m *mmapper) do(t *testing.T, command string) {
	t.Helper()
	fmt.Fprintln(m.in, command)
	m.in.Flush()
	if !m.out.Scan() || m.out.Text() != "ok" {
		t.Fatalf("%s: %q %v", command, m.out.Text(), m.out.Err())
	}
}

func (m *mmapper) kill() {
	m.cmd.Process.Kill()
	m.cmd.Wait()
}

// newMapped makes a synced, durable file of mmapSize zero bytes and maps it in a child.
func newMapped(t *testing.T, m *mounted) *mmapper {
	t.Helper()
	f, err := os.Create(m.path("wal"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(mmapSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	syncDir(t, m.mnt)
	return startMmapper(t, m.path("wal"))
}

// Badger writes its WAL through a shared writable memory map and makes it durable with
// msync(MS_SYNC). Writes through the map must reach the filesystem as WRITEs and the msync as
// an fsync, or the model would be blind to them; pages dirtied after the last msync are lost.
func TestSharedMmapWritesAndMsyncReachTheFilesystem(t *testing.T) {
	m := mount(t, faultfs.Options{})
	child := newMapped(t, m)
	child.do(t, "write 10 synced through msync")
	child.do(t, "write 20480 also synced")
	before := m.fs.Stats()
	child.do(t, "msync")
	after := m.fs.Stats()
	if after.Writes <= before.Writes || after.FileSyncs <= before.FileSyncs {
		t.Fatalf("msync: stats %+v -> %+v: the map's pages or the sync did not arrive", before, after)
	}
	child.do(t, "write 28672 written after the last msync")
	m.fs.Cut()
	child.kill() // with its map still dirty
	if err := m.fs.Unmount(); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, mmapSize)
	copy(want[10:], "synced through msync")
	copy(want[20480:], "also synced")
	wantFile(t, filepath.Join(m.disk, "wal"), want)
}

// Without msync the map's pages still reach the filesystem (when the file is closed at the
// latest), so a clean unmount keeps them: writes through a map are seen, not bypassed.
func TestSharedMmapWritesArriveWithoutMsync(t *testing.T) {
	m := mount(t, faultfs.Options{})
	child := newMapped(t, m)
	before := m.fs.Stats()
	child.do(t, "write 100 through the map")
	child.do(t, "close")
	child.kill()
	if err := m.fs.Unmount(); err != nil {
		t.Fatal(err)
	}
	if after := m.fs.Stats(); after.Writes <= before.Writes {
		t.Fatalf("stats %+v -> %+v: no WRITE arrived for the map's page", before, after)
	}
	want := make([]byte, mmapSize)
	copy(want[100:], "through the map")
	wantFile(t, filepath.Join(m.disk, "wal"), want)
}
