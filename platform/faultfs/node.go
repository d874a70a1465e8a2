package faultfs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a loopback node whose changes go through the disk model.
type node struct {
	fs.LoopbackNode
	fs *FS
}

// backing is the path of the child name (or of the node, for "") in the backing directory.
func (n *node) backing(name string) string {
	return filepath.Join(n.RootData.Path, n.Path(nil), name)
}

var (
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeAllocater      = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
)

// readWrite opens for reading too whatever is opened for writing, so old content can be kept.
func readWrite(flags uint32) uint32 {
	if flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		flags = flags&^syscall.O_ACCMODE | syscall.O_RDWR
	}
	return flags
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (ch *fs.Inode, fh fs.FileHandle, fuseFlags uint32, e syscall.Errno) {
	e = n.fs.change(func(d *disk) syscall.Errno {
		p := n.backing(name)
		_, err := os.Lstat(p)
		existed := err == nil
		if existed && flags&syscall.O_TRUNC != 0 {
			if e := n.truncatePath(d, p, 0); e != 0 {
				return e
			}
		}
		ch, fh, fuseFlags, e = n.LoopbackNode.Create(ctx, name, readWrite(flags), mode, out)
		if e != 0 {
			return e
		}
		h, e := newHandle(n.fs, fh)
		if e != 0 {
			fh.(fs.FileReleaser).Release(ctx)
			return e
		}
		if !existed {
			d.created(p, h.ino, false)
		}
		fh = h
		return 0
	})
	return ch, fh, fuseFlags, e
}

func (n *node) Open(ctx context.Context, flags uint32) (fh fs.FileHandle, fuseFlags uint32, e syscall.Errno) {
	e = n.fs.change(func(d *disk) syscall.Errno {
		if flags&syscall.O_TRUNC != 0 {
			if e := n.truncatePath(d, n.backing(""), 0); e != 0 {
				return e
			}
		}
		fh, fuseFlags, e = n.LoopbackNode.Open(ctx, readWrite(flags))
		if e != 0 {
			return e
		}
		h, e := newHandle(n.fs, fh)
		if e != 0 {
			fh.(fs.FileReleaser).Release(ctx)
			return e
		}
		fh = h
		return 0
	})
	return fh, fuseFlags, e
}

// truncatePath keeps what truncating the file at path to size would cut off, and journals
// the new size (Options.OrderedMetadata): the caller truncates.
func (n *node) truncatePath(d *disk, path string, size int64) syscall.Errno {
	f, err := os.Open(path)
	if err != nil {
		return errno(err)
	}
	defer f.Close()
	var s unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &s); err != nil {
		return errno(err)
	}
	if err := d.beforeTruncate(int(f.Fd()), s.Ino, size); err != nil {
		return errno(err)
	}
	if n.fs.opts.OrderedMetadata {
		d.resized(s.Ino, size)
	}
	return 0
}

// Fsync is fsync of a file (FSYNC, also what msync(MS_SYNC) sends) or of a directory
// (FSYNCDIR: dirHandle does not answer it, so it comes here).
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return n.fs.change(func(d *disk) syscall.Errno {
		if n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR {
			d.stats.DirSyncs++
			return errno(d.commitNames())
		}
		var s unix.Stat_t
		var err error
		if h, ok := f.(*handle); ok {
			err = unix.Fstat(h.fd, &s)
		} else {
			err = unix.Lstat(n.backing(""), &s)
		}
		if err != nil {
			return errno(err)
		}
		d.stats.FileSyncs++
		d.synced(s.Ino, s.Size)
		if n.fs.opts.OrderedMetadata {
			return errno(d.commitNames())
		}
		return 0
	})
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var inner fs.FileHandle
	h, _ := f.(*handle)
	if h != nil {
		inner = h.lf
	}
	return n.fs.change(func(d *disk) syscall.Errno {
		if size, ok := in.GetSize(); ok {
			var e syscall.Errno
			if h != nil {
				e = errno(d.beforeTruncate(h.fd, h.ino, int64(size)))
				if e == 0 && n.fs.opts.OrderedMetadata {
					d.resized(h.ino, int64(size))
				}
			} else {
				e = n.truncatePath(d, n.backing(""), int64(size))
			}
			if e != 0 {
				return e
			}
		}
		return n.LoopbackNode.Setattr(ctx, inner, in, out)
	})
}

// Allocate is kept as a write of the range: a hole punched or zeroed there is undone alike.
func (n *node) Allocate(ctx context.Context, f fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	h, ok := f.(*handle)
	if !ok {
		return syscall.ENOTSUP
	}
	return n.fs.change(func(d *disk) syscall.Errno {
		if e := errno(d.beforeWrite(h.fd, h.ino, int64(off), int64(size))); e != 0 {
			return e
		}
		return h.lf.Allocate(ctx, off, size, mode)
	})
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (ch *fs.Inode, e syscall.Errno) {
	e = n.fs.change(func(d *disk) syscall.Errno {
		if ch, e = n.LoopbackNode.Mkdir(ctx, name, mode, out); e == 0 {
			d.created(n.backing(name), 0, true)
		}
		return e
	})
	return ch, e
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fs.change(func(d *disk) syscall.Errno {
		p := n.backing(name)
		entries, err := os.ReadDir(p)
		switch {
		case err != nil:
			return errno(err)
		case len(entries) > 0:
			return syscall.ENOTEMPTY
		}
		return errno(d.remove(p))
	})
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.fs.change(func(d *disk) syscall.Errno {
		p := n.backing(name)
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
			return errno(err)
		case fi.IsDir():
			return syscall.EISDIR
		}
		return errno(d.remove(p))
	})
}

// Rename supports plain renames and RENAME_NOREPLACE; a replaced target goes to the trash.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if flags&^unix.RENAME_NOREPLACE != 0 {
		return syscall.ENOTSUP // RENAME_EXCHANGE and RENAME_WHITEOUT are not modelled
	}
	return n.fs.change(func(d *disk) syscall.Errno {
		from, dst := n.backing(name), to.backing(newName)
		src, err := os.Lstat(from)
		if err != nil {
			return errno(err)
		}
		if old, err := os.Lstat(dst); err == nil {
			switch entries, _ := os.ReadDir(dst); {
			case flags&unix.RENAME_NOREPLACE != 0:
				return syscall.EEXIST
			case src.IsDir() && !old.IsDir():
				return syscall.ENOTDIR
			case !src.IsDir() && old.IsDir():
				return syscall.EISDIR
			case len(entries) > 0:
				return syscall.ENOTEMPTY
			}
			if err := d.remove(dst); err != nil {
				return errno(err)
			}
		}
		if err := os.Rename(from, dst); err != nil {
			return errno(err)
		}
		d.renamed(from, dst)
		return 0
	})
}

// Links, symlinks and special files are refused rather than modelled wrongly.
func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

// CopyFileRange is refused, so the kernel copies through READ and WRITE, which are modelled.
func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOTSUP
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, e := n.LoopbackNode.OpendirHandle(ctx, flags)
	if e != 0 {
		return nil, 0, e
	}
	return dirHandle{fh}, fuseFlags, 0
}
