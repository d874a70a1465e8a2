// Package badgerdb opens the embedded Badger store of a service with the settings every
// service shares: no conflict detection (there is one writer), measured memory sizes, a slog
// logger, an exclusive directory lock with a clear error, periodic value-log garbage
// collection, and durability through Sync.
//
// Commits do not sync (SyncWrites is off): each service's single writer calls Sync once for
// every group of committed batches before it acknowledges them (package writer), so one fsync
// serves many calls and overlaps the next batch's work. Sync is Badger's DB.Sync plus an fsync
// of each WAL and value-log file that rotated since the last Sync: DB.Sync covers only the
// active memtable's WAL and value log, and with SyncWrites off Badger does not sync a WAL or
// value log when it rotates to a new one, so a batch committed just before a rotation would
// otherwise be acknowledged unsynced. Badger numbers these files in increasing order (000001.mem)
// and the newest is the active one. On Linux, fsync through any descriptor writes back the
// file's dirty pages, including those written through Badger's memory maps.
package badgerdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Options are the tunables; the zero value gives the documented defaults.
type Options struct {
	// MemTableSize is the size of one memtable. Default 32 MiB. A transaction may hold about
	// 15% of it, which bounds a single writer batch; larger batches are split.
	MemTableSize int64
	// NumMemtables is how many memtables may be in memory. Default 2.
	NumMemtables int
	// BlockCacheSize caches decompressed blocks for reads. Default 16 MiB.
	BlockCacheSize int64
	// IndexCacheSize caches table indexes. Default 16 MiB.
	IndexCacheSize int64
	// InMemory keeps everything in memory (for unit tests of store packages only).
	InMemory bool
}

// Defaults, chosen so four stores in one `osiris up` process stay near 100 MiB each
// (Badger's own defaults cost about 0.6 GiB per store).
const (
	DefaultMemTableSize   = 32 << 20
	DefaultNumMemtables   = 2
	DefaultBlockCacheSize = 16 << 20
	DefaultIndexCacheSize = 16 << 20
)

// DB is an open Badger store plus the directory lock that guards it.
type DB struct {
	*badger.DB
	dir  string // "" in memory
	lock *os.File
	// synced holds, per file kind, the newest file number at the last Sync (owned by Sync).
	synced map[string]uint64
	log    *slog.Logger
}

// Open opens (creating if needed) the store in dir. Commits are made durable by Sync.
func Open(dir string, o Options, log *slog.Logger) (*DB, error) {
	if dir == "" && !o.InMemory {
		return nil, errors.New("data dir is empty")
	}
	var lock *os.File
	if !o.InMemory {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data dir %s: %w", dir, err)
		}
		var err error
		if lock, err = lockDir(dir); err != nil {
			return nil, err
		}
	}
	opts := badger.DefaultOptions(dir).
		WithInMemory(o.InMemory).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithMemTableSize(orDefault(o.MemTableSize, DefaultMemTableSize)).
		WithNumMemtables(int(orDefault(int64(o.NumMemtables), DefaultNumMemtables))).
		WithBlockCacheSize(orDefault(o.BlockCacheSize, DefaultBlockCacheSize)).
		WithIndexCacheSize(orDefault(o.IndexCacheSize, DefaultIndexCacheSize)).
		WithNumCompactors(2).
		WithLogger(logger{log})
	if o.InMemory {
		opts = opts.WithDir("").WithValueDir("")
		dir = ""
	}
	db, err := badger.Open(opts)
	if err != nil {
		unlock(lock)
		return nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	return &DB{DB: db, dir: dir, lock: lock, log: log, synced: map[string]uint64{}}, nil
}

// Sync makes every committed write durable (see the package comment). It is called by one
// goroutine at a time (the writer's syncer).
func (d *DB) Sync() error {
	if d.dir == "" {
		return nil // in memory
	}
	// List before syncing: a file that rotates after the listing is still the newest in it,
	// and DB.Sync below syncs it.
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("list data dir for sync: %w", err)
	}
	if err := d.DB.Sync(); err != nil {
		return err
	}
	for _, ext := range []string{".mem", ".vlog"} {
		files := numbered(entries, ext)
		newest := uint64(0)
		for fid := range files {
			newest = max(newest, fid)
		}
		// Files from the one that was newest at the last sync up to (not including) the newest
		// now have rotated since: they may hold committed writes that nothing synced.
		for fid, name := range files {
			if last := d.synced[ext]; last != 0 && fid >= last && fid < newest {
				if err := fsync(filepath.Join(d.dir, name)); err != nil {
					return err
				}
			}
		}
		d.synced[ext] = newest
	}
	return nil
}

// numbered maps the file numbers of the files with the extension to their names.
func numbered(entries []os.DirEntry, ext string) map[uint64]string {
	files := map[uint64]string{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ext)
		if !ok {
			continue
		}
		if fid, err := strconv.ParseUint(name, 10, 32); err == nil {
			files[fid] = e.Name()
		}
	}
	return files
}

func fsync(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // flushed to a table and removed since the listing: nothing left to sync
	}
	if err != nil {
		return fmt.Errorf("open %s for sync: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// Close closes the store and releases the directory lock.
func (d *DB) Close() error {
	err := d.DB.Close()
	unlock(d.lock)
	return err
}

// CollectGarbage rewrites value-log files with at least ratio garbage every interval until
// ctx ends. Badger gives space back only this way and through compaction.
func (d *DB) CollectGarbage(ctx context.Context, every time.Duration, ratio float64) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil {
			// Loop while a file was rewritten; ErrNoRewrite means nothing was worth it.
			if err := d.RunValueLogGC(ratio); err != nil {
				if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
					d.log.Warn("value log gc", "err", err)
				}
				break
			}
		}
	}
}

// lockDir takes an exclusive, non-blocking lock on dir/osiris.lock, so a second process gets
// a clear error at once instead of Badger's.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "osiris.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another process (stop it, or pick another --data-dir)", dir)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	return f, nil
}

func unlock(f *os.File) {
	if f != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

func orDefault(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// logger sends Badger's log lines to slog; its info lines are debug detail for us.
type logger struct{ l *slog.Logger }

func (g logger) Errorf(f string, a ...any)   { g.l.Error(fmt.Sprintf(f, a...), "component", "badger") }
func (g logger) Warningf(f string, a ...any) { g.l.Warn(fmt.Sprintf(f, a...), "component", "badger") }
func (g logger) Infof(f string, a ...any)    { g.l.Debug(fmt.Sprintf(f, a...), "component", "badger") }
func (g logger) Debugf(f string, a ...any)   { g.l.Debug(fmt.Sprintf(f, a...), "component", "badger") }
