package faultfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// pageSize is the unit in which old content is kept: a changed page is copied once per sync.
const pageSize = 4096

// fileState is what a file looked like at its last sync, as far as it has changed since.
type fileState struct {
	synced  int64            // size at the last sync
	minSize int64            // smallest size since: a rollback truncates to it first
	saved   map[int64][]byte // page number -> content at the last sync (pages below synced)
	fresh   map[int64]bool   // pages at or past synced written since the last sync
}

// disk is the model of durable state. Its methods are called with FS.mu held.
type disk struct {
	dir, trash string
	files      map[uint64]*fileState // by backing inode number
	journal    []nameOp
	trashed    int
	stats      Stats
}

func newDisk(dir, trash string) *disk {
	return &disk{dir: dir, trash: trash, files: map[uint64]*fileState{}}
}

// file returns the state of inode ino, whose size is now size if it has none yet: a file not
// changed since the mount is as durable as it is.
func (d *disk) file(ino uint64, size int64) *fileState {
	st := d.files[ino]
	if st == nil {
		st = &fileState{synced: size, minSize: size}
		d.files[ino] = st
	}
	return st
}

// save keeps the synced content of page p of the file open as fd, unless it has it already.
func (st *fileState) save(fd int, p int64) error {
	off := p * pageSize
	if off >= st.synced {
		return nil
	}
	if _, ok := st.saved[p]; ok {
		return nil
	}
	buf := make([]byte, min(pageSize, st.synced-off))
	n, err := unix.Pread(fd, buf, off)
	if err != nil {
		return fmt.Errorf("faultfs: save page %d: %w", p, err)
	}
	if st.saved == nil {
		st.saved = map[int64][]byte{}
	}
	st.saved[p] = buf[:n] // short only where the file was truncated: zeros there
	return nil
}

// beforeWrite keeps what a write of n bytes at off to the file open as fd will overwrite.
func (d *disk) beforeWrite(fd int, ino uint64, off, n int64) error {
	if n <= 0 {
		return nil
	}
	st, err := d.fileOf(fd, ino)
	if err != nil {
		return err
	}
	for p := off / pageSize; p <= (off+n-1)/pageSize; p++ {
		if p*pageSize >= st.synced {
			if st.fresh == nil {
				st.fresh = map[int64]bool{}
			}
			st.fresh[p] = true
			continue
		}
		if err := st.save(fd, p); err != nil {
			return err
		}
	}
	return nil
}

// beforeTruncate keeps the data a truncation of the file open as fd to size will cut off.
// Holes need nothing: a rollback truncates and re-extends, which gives zeros.
func (d *disk) beforeTruncate(fd int, ino uint64, size int64) error {
	st, err := d.fileOf(fd, ino)
	if err != nil {
		return err
	}
	var s unix.Stat_t
	if err := unix.Fstat(fd, &s); err != nil {
		return err
	}
	end := min(s.Size, st.synced)
	for off := size; off < end; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) || (err == nil && data >= end) {
			break // no data left before end
		}
		if err != nil {
			return fmt.Errorf("faultfs: seek data: %w", err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("faultfs: seek hole: %w", err)
		}
		hole = min(hole, end)
		for p := data / pageSize; p*pageSize < hole; p++ {
			if err := st.save(fd, p); err != nil {
				return err
			}
		}
		off = hole
	}
	st.minSize = min(st.minSize, size)
	return nil
}

func (d *disk) fileOf(fd int, ino uint64) (*fileState, error) {
	if st := d.files[ino]; st != nil {
		return st, nil
	}
	var s unix.Stat_t
	if err := unix.Fstat(fd, &s); err != nil {
		return nil, err
	}
	return d.file(ino, s.Size), nil
}

// synced records that the file's current content, of the given size, is durable.
func (d *disk) synced(ino uint64, size int64) {
	d.files[ino] = &fileState{synced: size, minSize: size}
}

// resize makes size the file's durable size, its data durable only as far as it was synced:
// pages written past the old synced size read as zeros after a rollback.
func (st *fileState) resize(size int64) {
	st.minSize = min(st.minSize, st.synced, size)
	for p := range st.fresh {
		if off := p * pageSize; off < size {
			if st.saved == nil {
				st.saved = map[int64][]byte{}
			}
			st.saved[p] = make([]byte, min(pageSize, size-off))
			delete(st.fresh, p)
		}
	}
	for p, b := range st.saved {
		if off := p * pageSize; off >= size {
			delete(st.saved, p)
		} else if off+int64(len(b)) > size {
			st.saved[p] = b[:size-off]
		}
	}
	st.synced = size
}

// commitAll is a clean shutdown: everything written is kept.
func (d *disk) commitAll() error {
	err := d.commitNames()
	return errors.Join(err, os.RemoveAll(d.trash))
}

// rollback leaves the backing directory as it was at the last syncs: name changes not
// committed are undone newest first, then every changed file gets its synced size and content.
func (d *disk) rollback() error {
	for i := len(d.journal) - 1; i >= 0; i-- {
		op := d.journal[i]
		var err error
		switch op.kind {
		case opCreate:
			err = os.Remove(op.path)
		case opRemove:
			err = os.Rename(op.trash, op.path)
		case opRename:
			err = os.Rename(op.path, op.from)
		case opResize: // the file's state has it
		}
		if err != nil {
			return fmt.Errorf("faultfs: roll back name change: %w", err)
		}
	}
	d.journal = nil
	err := filepath.WalkDir(d.dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		var s unix.Stat_t
		if err := unix.Lstat(path, &s); err != nil {
			return err
		}
		if st := d.files[s.Ino]; st != nil {
			return st.restore(path)
		}
		return nil
	})
	d.files = map[uint64]*fileState{}
	return errors.Join(err, os.RemoveAll(d.trash))
}

// restore puts the file at path back to its synced size and content.
func (st *fileState) restore(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if st.minSize < st.synced {
		if err := f.Truncate(st.minSize); err != nil {
			return err
		}
	}
	if err := f.Truncate(st.synced); err != nil {
		return err
	}
	for p, b := range st.saved {
		if _, err := f.WriteAt(b, p*pageSize); err != nil {
			return fmt.Errorf("faultfs: restore %s: %w", path, err)
		}
	}
	return nil
}

// errno turns an error of the model into the errno the caller sees.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
