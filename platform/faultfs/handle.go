package faultfs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// handle is an open file. It wraps the loopback file but does not offer its descriptor for
// FUSE passthrough: with passthrough the kernel would write to the backing file directly and
// the model would never see the writes.
type handle struct {
	lf  *fs.LoopbackFile
	fd  int
	ino uint64
	fs  *FS
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileWritever  = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileLseeker   = (*handle)(nil)
)

func newHandle(f *FS, fh fs.FileHandle) (*handle, syscall.Errno) {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return nil, syscall.EIO
	}
	fd, ok := lf.PassthroughFd() // the descriptor itself; nothing is registered with the kernel
	if !ok {
		return nil, syscall.EBADF
	}
	var s unix.Stat_t
	if err := unix.Fstat(fd, &s); err != nil {
		return nil, errno(err)
	}
	return &handle{lf: lf, fd: fd, ino: s.Ino, fs: f}, 0
}

func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.lf.Read(ctx, buf, off)
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return h.Writev(ctx, [][]byte{data}, off)
}

func (h *handle) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var written uint32
	e := h.fs.change(func(d *disk) syscall.Errno {
		n := 0
		for _, b := range data {
			n += len(b)
		}
		if err := d.beforeWrite(h.fd, h.ino, off, int64(n)); err != nil {
			return errno(err)
		}
		d.stats.Writes++
		var err error
		var w int
		for _, b := range data {
			w, err = unix.Pwrite(h.fd, b, off+int64(written))
			written += uint32(w)
			if err != nil || w < len(b) {
				break
			}
		}
		return errno(err)
	})
	return written, e
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

func (h *handle) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }

func (h *handle) Flush(ctx context.Context) syscall.Errno { return h.lf.Flush(ctx) }

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

// dirHandle is an open directory. It leaves out Fsyncdir, so a directory's fsync reaches
// node.Fsync, which commits the name changes.
type dirHandle struct{ ds fs.FileHandle }

var (
	_ fs.FileReaddirenter = dirHandle{}
	_ fs.FileReleasedirer = dirHandle{}
	_ fs.FileSeekdirer    = dirHandle{}
)

func (d dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.ds.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.ds.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

func (d dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.ds.(fs.FileSeekdirer).Seekdir(ctx, off)
}
