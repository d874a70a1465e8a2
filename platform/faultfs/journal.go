package faultfs

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// The journal: name changes (and, with Options.OrderedMetadata, truncations) in the order they
// were made, until an fsync commits them all. A prefix is durable, never a later change alone.

type opKind int

const (
	opCreate opKind = iota // path was created (file or directory)
	opRemove               // path was unlinked or replaced; its inode waits in trash
	opRename               // from was renamed to path
	opResize               // inode ino was truncated to size (Options.OrderedMetadata)
)

// nameOp is one name change not yet committed.
type nameOp struct {
	kind  opKind
	path  string
	from  string // opRename
	trash string // opRemove
	ino   uint64 // opRemove: the removed inode, forgotten once the removal is committed
	size  int64  // opResize
}

// created records that path was created, as inode ino (a new file holds nothing durable yet).
func (d *disk) created(path string, ino uint64, isDir bool) {
	if !isDir {
		d.files[ino] = &fileState{}
	}
	d.journal = append(d.journal, nameOp{kind: opCreate, path: path})
}

// remove moves path to the trash instead of deleting it, so a rollback can bring it back.
func (d *disk) remove(path string) error {
	var s unix.Stat_t
	if err := unix.Lstat(path, &s); err != nil {
		return err
	}
	d.trashed++
	to := filepath.Join(d.trash, strconv.Itoa(d.trashed))
	if err := os.Rename(path, to); err != nil {
		return err
	}
	d.journal = append(d.journal, nameOp{kind: opRemove, path: path, trash: to, ino: s.Ino})
	return nil
}

func (d *disk) resized(ino uint64, size int64) {
	d.journal = append(d.journal, nameOp{kind: opResize, ino: ino, size: size})
}

func (d *disk) renamed(from, to string) {
	d.journal = append(d.journal, nameOp{kind: opRename, path: to, from: from})
}

// commitNames makes every name change so far durable.
func (d *disk) commitNames() error {
	for _, op := range d.journal {
		switch op.kind {
		case opRemove:
			if err := os.RemoveAll(op.trash); err != nil {
				return err
			}
			delete(d.files, op.ino)
		case opResize:
			if st := d.files[op.ino]; st != nil {
				st.resize(op.size)
			}
		}
	}
	d.journal = nil
	return nil
}
