package lifecycle

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/osirisplane/osiris/platform/apierr"
)

// diskGuard refuses writes while the data dir's file system has less than min bytes free, and
// admits them again once it has resume bytes free (a margin, so it does not flap). Badger
// writes its WAL and value log through memory maps: on a full disk a write there is a SIGBUS
// that kills the process, not an error, so refusing before the disk fills is the only defence.
type diskGuard struct {
	dir         string
	min, resume uint64
	log         *slog.Logger
	onChange    func(full bool)              // readiness; called with mu held
	statfs      func(string) (uint64, error) // free bytes; a variable for tests

	mu      sync.Mutex
	full    bool
	free    atomic.Uint64
	refused atomic.Int64
}

func newDiskGuard(dir string, minFree int64, log *slog.Logger, onChange func(full bool)) *diskGuard {
	m := uint64(minFree)
	return &diskGuard{dir: dir, min: m, resume: m + max(m/8, 1<<20), log: log, onChange: onChange, statfs: freeBytes}
}

// check reads the free space, updates the state and returns the error a write gets now.
func (g *diskGuard) check() error {
	free, err := g.statfs(g.dir)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		// Not knowing is no reason to refuse; the write itself will fail if it must.
		g.log.Warn("free space check", "dir", g.dir, "err", err)
		return g.refusal()
	}
	g.free.Store(free)
	switch {
	case !g.full && free < g.min:
		g.full = true
		g.log.Error("disk almost full; refusing writes until space returns", "dir", g.dir, "free_bytes", free, "min_free_bytes", g.min)
		g.onChange(true)
	case g.full && free >= g.resume:
		g.full = false
		g.log.Info("disk space returned; accepting writes", "dir", g.dir, "free_bytes", free)
		g.onChange(false)
	}
	return g.refusal()
}

// refusal is the error of a write in the current state (mu held).
func (g *diskGuard) refusal() error {
	if !g.full {
		return nil
	}
	g.refused.Add(1)
	return fmt.Errorf("disk almost full: %d bytes free in %s, need %d; writes refused until space returns: %w",
		g.free.Load(), g.dir, g.resume, apierr.ErrResourceExhausted)
}

func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
