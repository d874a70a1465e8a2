// Package badgerdb opens the embedded Badger store of a service with the settings every
// service shares: no conflict detection (there is one writer), measured memory sizes, a slog
// logger, an exclusive directory lock with a clear error, periodic value-log garbage
// collection, and durability.
//
// Durability: SyncWrites is on, so no commit returns before its bytes are fsynced. Badger's
// write goroutine writes each commit's values to the value log and msyncs that file (value.go
// write, deferred Sync; a value log that fills up is synced by doneWriting before the next
// one is created), then writes the commit to the active memtable's WAL and msyncs it
// (writeToLSM, SyncWAL) before it answers. A memtable rotates only between two commits
// (ensureRoomForWrite runs before each), so the WAL a commit lands in is the one synced for
// it; the commit before a rotation was synced when it was written. Each service's writer
// applies a whole drained batch as one transaction (group commit), so one fsync still serves
// many calls. An earlier design synced behind the commits and had to track rotated files; a
// rotation between its listing and the sync let an acknowledgement precede the fsync
// (TestNoAcknowledgedByteLeftUnsynced), and SyncWrites measured no slower.
//
// What SyncWrites leaves out is the directory: a new WAL or value-log file is created with a
// size (ristretto's OpenMmapFile skips its directory sync then), so its name may not survive a
// power loss. Sync closes that gap: the writer calls it after each batch, and it fsyncs the
// directory when a name appeared in it since the last time. It learns that from an inotify
// watch on the directory, which the kernel fills as the file is created, so before the commit
// that uses it returns: one non-blocking read per batch, where listing the directory cost
// 4 system calls and a sort of every name (2% of the audit service's CPU; BenchmarkSync).
// Every created name counts (tables, a rewritten MANIFEST too: rare next to batches, and a
// directory fsync too many costs only time), and so does an overflow of the watch's queue.
// Badger itself logs, but does not return, a failed fsync of the active value log; values
// under the value threshold (1 MiB by default) live in the WAL, whose failed fsync fails the
// commit.
package badgerdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
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
	// ValueLogFileSize is the size at which a value-log file is closed and the next created.
	// Default Badger's (1 GiB), which the file may reach in sparse size before it fills.
	ValueLogFileSize int64
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
	// watch is an inotify descriptor on dir that reports created names (-1 in memory); dirty
	// says a name may not be durable yet. Both are owned by Sync (and Open), under syncMu: a
	// writer's batches and a service's occasional side commits (checkpoints) both sync.
	syncMu sync.Mutex
	watch  int
	dirty  bool
	buf    []byte
	// beforeSync, set only by tests, runs at the start of Sync: after a batch committed,
	// before its callers hear. syncDir fsyncs a directory (tests count the calls).
	beforeSync func()
	syncDir    func(path string) error
	log        *slog.Logger
}

// Open opens (creating if needed) the store in dir. Every commit is durable when it returns;
// call Sync after commits to make new files' names durable too.
func Open(dir string, o Options, log *slog.Logger) (*DB, error) {
	if dir == "" && !o.InMemory {
		return nil, errors.New("data dir is empty")
	}
	var lock *os.File
	watch := -1
	if !o.InMemory {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data dir %s: %w", dir, err)
		}
		var err error
		if lock, err = lockDir(dir); err != nil {
			return nil, err
		}
		if err := removeEmptyWALs(dir, log); err != nil {
			unlock(lock)
			return nil, err
		}
		// Watched before Badger opens, so no file it creates from now on goes unseen.
		if watch, err = watchCreates(dir); err != nil {
			unlock(lock)
			return nil, err
		}
	}
	memTable := orDefault(o.MemTableSize, DefaultMemTableSize)
	opts := badger.DefaultOptions(dir).
		WithInMemory(o.InMemory).
		WithSyncWrites(true).
		WithDetectConflicts(false).
		WithMemTableSize(memTable).
		// Badger refuses a value threshold above its largest batch (15% of a memtable).
		WithValueThreshold(min(1<<20, memTable*15/100)).
		WithNumMemtables(int(orDefault(int64(o.NumMemtables), DefaultNumMemtables))).
		WithBlockCacheSize(orDefault(o.BlockCacheSize, DefaultBlockCacheSize)).
		WithIndexCacheSize(orDefault(o.IndexCacheSize, DefaultIndexCacheSize)).
		WithNumCompactors(2).
		WithLogger(logger{log})
	if o.ValueLogFileSize > 0 {
		opts = opts.WithValueLogFileSize(o.ValueLogFileSize)
	}
	if o.InMemory {
		opts = opts.WithDir("").WithValueDir("")
		dir = ""
	}
	db, err := badger.Open(opts)
	if err != nil {
		closeWatch(watch)
		unlock(lock)
		return nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	// dirty: the files found or created by Open are made durable by the first Sync.
	return &DB{DB: db, dir: dir, lock: lock, log: log, watch: watch, dirty: true, syncDir: fsync}, nil
}

// removeEmptyWALs deletes WAL files of size zero before Badger opens the store. Badger creates
// a WAL by creating the file and then giving it its size; a power cut after the name became
// durable (any fsync commits it, and Badger's flusher fsyncs concurrently) but before the size
// did leaves an empty file, and Badger then refuses to open the store at all ("while opening
// fid: N err: Create a new file"). Such a file holds nothing: every acknowledged commit in a
// WAL was synced with the file's size. Found by the audit service's power-loss test.
func removeEmptyWALs(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list data dir %s: %w", dir, err)
	}
	removed := false
	for _, e := range entries {
		if !e.Type().IsRegular() || filepath.Ext(e.Name()) != ".mem" {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove empty WAL %s: %w", e.Name(), err)
		}
		log.Warn("removed an empty WAL file left by a crash while it was being created", "file", e.Name())
		removed = true
	}
	if removed {
		return fsync(dir)
	}
	return nil
}

// watchCreates returns a non-blocking inotify descriptor that reports names created in dir.
func watchCreates(dir string) (int, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("watch data dir %s for new files: %w", dir, err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("watch data dir %s for new files: %w", dir, err)
	}
	return fd, nil
}

func closeWatch(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// Sync makes the names of files created since the last Sync durable (see the package
// comment; the commits themselves are synced by Badger). The writer calls it after each batch,
// before it answers; it is safe for concurrent use.
func (d *DB) Sync() error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	if d.dir == "" {
		return nil // in memory
	}
	if d.beforeSync != nil {
		d.beforeSync()
	}
	if d.buf == nil {
		d.buf = make([]byte, 4096) // holds at least one event with the longest name
	}
	for {
		// Any event counts (IN_Q_OVERFLOW too); the names do not matter.
		n, err := unix.Read(d.watch, d.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			return fmt.Errorf("read data dir watch: %w", err)
		}
		d.dirty = d.dirty || n > 0
	}
	if !d.dirty {
		return nil
	}
	if err := d.syncDir(d.dir); err != nil {
		return fmt.Errorf("sync data dir: %w", err)
	}
	d.dirty = false
	return nil
}

func fsync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Close closes the store and releases the directory lock.
func (d *DB) Close() error {
	err := d.DB.Close()
	closeWatch(d.watch)
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
