// Package entrycache is the cache's domain: validation, TTL judged by a clock that never goes back,
// bounds with least-recently-used eviction, tags, and exact statistics, over a Store that is
// the one store of record.
//
// Coherence by construction: there is no second tier. Reads go to the store's snapshots;
// every change goes through one writer goroutine (platform/writer), which also keeps the
// in-memory recency order and the counters, so they follow the store exactly. Recency is
// raised by readers with one atomic operation and reaches the disk lazily (package recency),
// so a read never becomes a write; the only read that writes is one that finds an expired
// entry: it has the writer remove it, durably, before it answers, so an entry a caller was
// told is gone stays gone even if the process dies and the wall clock is then set back.
package entrycache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/osirisplane/osiris/platform/hwclock"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/cache/internal/recency"
)

// Config tunes a Cache; zero fields take the defaults.
type Config struct {
	MaxValueBytes int
	MaxEntries    int
	MaxBytes      int64
	// MaxPendingBytes bounds the value bytes of Puts waiting for the writer, so a burst of
	// large values is refused (RESOURCE_EXHAUSTED) instead of filling memory.
	MaxPendingBytes int64
	DefaultTTL      time.Duration
	MaxTTL          time.Duration
	// ExpiryInterval is how often the background sweep removes expired entries and persists
	// recency and counters.
	ExpiryInterval time.Duration
	Queue          writer.Config
	// Now is the wall clock and Elapsed the monotonic one; the process's clocks when nil
	// (see platform/hwclock).
	Now     func() time.Time
	Elapsed func() time.Duration
	Log     *slog.Logger
}

func (c *Config) defaults() {
	set := func(v *int64, def int64) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.MaxValueBytes <= 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	set(&c.MaxBytes, DefaultMaxBytes)
	set(&c.MaxPendingBytes, DefaultMaxPendingBytes)
	set((*int64)(&c.DefaultTTL), int64(DefaultTTL))
	set((*int64)(&c.MaxTTL), int64(DefaultMaxTTL))
	set((*int64)(&c.ExpiryInterval), int64(DefaultExpiryInterval))
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Entry is a stored entry with its value.
type Entry struct {
	Meta
	Value []byte
}

// Stats is what Stats reports.
type Stats struct {
	Entries, Bytes                       uint64
	Hits, Misses, Evictions, Expirations uint64
	MaxEntries, MaxBytes, Revision       uint64
	Now                                  time.Time
}

// published is the part of Stats the writer owns, replaced after each batch.
type published struct {
	entries, bytes, evictions, expirations, revision uint64
}

// Cache is the cache. It owns its store from Open until Close.
type Cache struct {
	cfg   Config
	store Store
	q     *writer.Queue[op, outcome]
	clock *hwclock.Clock
	lru   *recency.Tracker

	hits, misses atomic.Uint64
	pending      atomic.Int64 // value bytes of Puts waiting for the writer
	stats        atomic.Pointer[published]

	// Owned by the writer goroutine (and Open, before it starts).
	state  State
	broken error // set when the in-memory state could not be rebuilt after a failed commit

	stopSweep context.CancelFunc
	sweepDone chan struct{}
}

// Open loads the recency order and counters from store, starts the writer and the
// background sweep, and brings the store within the bounds (they may have been lowered).
func Open(store Store, cfg Config) (*Cache, error) {
	cfg.defaults()
	c := &Cache{cfg: cfg, store: store, lru: recency.New(0)}
	if err := c.load(); err != nil {
		return nil, err
	}
	c.clock = hwclock.New(cfg.Now, cfg.Elapsed, c.state.HighWater)
	c.hits.Store(c.state.Hits)
	c.misses.Store(c.state.Misses)
	c.publish()
	cfg.Queue.Sync = store.Sync
	c.q = writer.New(cfg.Queue, c.apply)
	if _, err := c.q.Submit(context.Background(), op{kind: opFit}); err != nil {
		return nil, errors.Join(fmt.Errorf("fit the store within the bounds: %w", err), c.q.Close(context.Background()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopSweep, c.sweepDone = cancel, make(chan struct{})
	go func() { defer close(c.sweepDone); c.sweepLoop(ctx) }()
	return c, nil
}

// load reads the state and rebuilds the recency order from the store's records.
func (c *Cache) load() error {
	st, err := c.store.LoadState()
	if err != nil {
		return fmt.Errorf("read cache state: %w", err)
	}
	c.lru.Reset(st.Stamp)
	err = c.store.ScanMeta(func(m Meta) error {
		c.lru.Add(m.ID.trackerKey(), m.Revision, m.Size(), m.Stamp)
		// A commit that Badger forced outside a checkpoint may hold a later revision than
		// the state; never hand one out twice. (Add keeps the stamp clock past every stamp.)
		st.Revision = max(st.Revision, m.Revision)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read cache entries: %w", err)
	}
	c.state = st
	return nil
}

// Close stops the sweep, persists recency and counters, drains the writer and closes the
// store.
func (c *Cache) Close(ctx context.Context) error {
	c.stopSweep()
	<-c.sweepDone
	var err error
	for more := true; more && err == nil; {
		var out outcome
		out, err = c.q.Submit(ctx, op{kind: opPersist})
		more = out.more
	}
	return errors.Join(err, c.q.Close(ctx), c.store.Close())
}

// Clock is the clock expiry is judged by.
func (c *Cache) Clock() *hwclock.Clock { return c.clock }

// QueueLen is how many writes wait for the writer.
func (c *Cache) QueueLen() int { return c.q.Len() }

// publish makes the writer's counters visible to Stats.
func (c *Cache) publish() {
	c.stats.Store(&published{
		entries:     uint64(c.lru.Len()),
		bytes:       uint64(c.lru.Bytes()),
		evictions:   c.state.Evictions,
		expirations: c.state.Expirations,
		revision:    c.state.Revision,
	})
}

// Stats reports the cache's size and counters. Entries and bytes are those of the last
// applied batch; hits and misses are exact counts of completed Gets.
func (c *Cache) Stats() Stats {
	p := c.stats.Load()
	return Stats{
		Entries: p.entries, Bytes: p.bytes,
		Hits: c.hits.Load(), Misses: c.misses.Load(),
		Evictions: p.evictions, Expirations: p.expirations,
		MaxEntries: uint64(c.cfg.MaxEntries), MaxBytes: uint64(c.cfg.MaxBytes),
		Revision: p.revision, Now: c.clock.Now(),
	}
}

// persistedState is the state to write with a commit.
func (c *Cache) persistedState() State {
	s := c.state
	s.HighWater = c.clock.HighWater()
	s.Stamp = c.lru.Stamp()
	s.Hits, s.Misses = c.hits.Load(), c.misses.Load()
	return s
}
