package faultfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options change what the filesystem treats as durable.
type Options struct {
	// OrderedMetadata journals sizes set by truncate along with the name changes, and makes
	// an fsync of any file commit the journal, as ext4 (data=ordered) and XFS do. By default
	// a size is durable only with the file's own fsync and names only with a directory's.
	OrderedMetadata bool
}

// Stats count the operations that reached the filesystem, so a test can check that what it
// relies on (writes through a memory map, msync) really arrives.
type Stats struct {
	Writes    int // WRITE requests
	FileSyncs int // fsync/fdatasync of regular files (msync(MS_SYNC) arrives as one)
	DirSyncs  int // fsync of directories
}

// FS is a mounted fault-injecting filesystem.
type FS struct {
	dir, mountpoint string
	opts            Options
	server          *fuse.Server

	mu        sync.Mutex
	cut       bool
	disk      *disk
	unmounted bool
}

// ErrNotSupported is returned by Mount when this process cannot mount FUSE filesystems.
var ErrNotSupported = errors.New("faultfs: FUSE mounts need root and /dev/fuse")

// Supported reports why FUSE cannot be mounted here, or nil if it can.
func Supported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not running as root", ErrNotSupported)
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	f.Close()
	return nil
}

// Mount serves dir at mountpoint (both must exist). A trash directory for removed files is
// made next to dir, on the same filesystem, and removed by Unmount.
func Mount(dir, mountpoint string, opts Options) (*FS, error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return nil, err
	}
	if rel, err := filepath.Rel(dir, mnt); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("faultfs: mountpoint %s is inside the backing directory %s", mnt, dir)
	}
	trash, err := os.MkdirTemp(filepath.Dir(dir), ".faultfs-trash-")
	if err != nil {
		return nil, fmt.Errorf("faultfs: trash directory: %w", err)
	}
	f := &FS{dir: dir, mountpoint: mountpoint, opts: opts, disk: newDisk(dir, trash)}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		os.Remove(trash)
		return nil, fmt.Errorf("faultfs: %w", err)
	}
	root := &fs.LoopbackRoot{Path: dir, Dev: st.Dev}
	root.NewNode = func(_ *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: root}, fs: f}
	}
	root.RootNode = root.NewNode(root, nil, "", &st)
	second := time.Second
	f.server, err = fs.Mount(mountpoint, root.RootNode, &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName:      "faultfs",
			Name:        "faultfs",
			DirectMount: true, // mount(2) as root; fusermount3 only as a fallback
		},
		EntryTimeout: &second,
		AttrTimeout:  &second,
	})
	if err != nil {
		os.Remove(trash)
		return nil, fmt.Errorf("faultfs: mount %s: %w", mountpoint, err)
	}
	return f, nil
}

// Cut is the power cut: nothing done from now on reaches the disk. Kill the processes using
// the filesystem after Cut, then Unmount.
func (f *FS) Cut() {
	f.mu.Lock()
	f.cut = true
	f.mu.Unlock()
}

// Unmount unmounts. After Cut it leaves the backing directory as the disk would be after the
// power cut (see the package comment); otherwise as after a clean shutdown. The filesystem
// must not be busy (kill its users first); a failed Unmount can be retried, a second
// successful one does nothing.
func (f *FS) Unmount() error {
	f.mu.Lock()
	done := f.unmounted
	f.mu.Unlock()
	if done {
		return nil
	}
	// Not under mu: unmounting flushes the kernel's dirty pages through handlers that take it.
	if err := f.server.Unmount(); err != nil {
		return fmt.Errorf("faultfs: unmount %s: %w", f.mountpoint, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unmounted = true
	if f.cut {
		return f.disk.rollback()
	}
	return f.disk.commitAll()
}

// Stats returns the operations counted so far.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disk.stats
}

// change runs fn, which changes the disk, unless the power is cut.
func (f *FS) change(fn func(d *disk) syscall.Errno) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut {
		return syscall.EIO
	}
	return fn(f.disk)
}
