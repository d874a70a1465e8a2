package entrycache

import (
	"errors"
	"strings"
	"time"
)

// ID names an entry.
type ID struct {
	Namespace string
	Key       string
}

// trackerKey is the ID as one string; a namespace never contains NUL.
func (id ID) trackerKey() string { return id.Namespace + "\x00" + id.Key }

func idOfTrackerKey(s string) ID {
	ns, key, _ := strings.Cut(s, "\x00")
	return ID{Namespace: ns, Key: key}
}

// Meta is everything stored about an entry except its value.
type Meta struct {
	ID        ID
	Revision  uint64 // the writer item that stored it
	CreatedAt time.Time
	ExpiresAt time.Time
	TTL       time.Duration
	Tags      []string
	ValueSize int64
	// Stamp is the entry's last use on the recency clock, as far as it was persisted.
	Stamp uint64
}

// Size is what the entry counts against the byte bound.
func (m Meta) Size() int64 {
	n := int64(len(m.ID.Namespace)+len(m.ID.Key)) + m.ValueSize
	for _, t := range m.Tags {
		n += int64(len(t))
	}
	return n
}

// Expired says whether the entry is expired at now (the original's rule: now >= expires_at).
func (m Meta) Expired(now time.Time) bool { return !now.Before(m.ExpiresAt) }

// State is the cache's bookkeeping, persisted with every commit.
type State struct {
	Revision    uint64
	HighWater   time.Time
	Stamp       uint64 // recency clock
	Hits        uint64
	Misses      uint64
	Evictions   uint64
	Expirations uint64
}

// ErrNoEntry is returned by reads of an entry that is not stored.
var ErrNoEntry = errors.New("no such entry")

// Store is what the cache needs from storage. The single writer, expiry, bounds and
// recency live in the cache, above this interface; a store keeps records and two indexes
// (by expiry time and by tag) and makes a batch of changes durable.
type Store interface {
	// LoadState returns the persisted state; the zero State for a new store.
	LoadState() (State, error)
	// ScanMeta calls fn with every stored entry's metadata (at start-up), with Stamp the
	// latest persisted use.
	ScanMeta(fn func(Meta) error) error
	// Read returns an entry's metadata and value from one snapshot, or ErrNoEntry.
	Read(id ID) (Meta, []byte, error)
	// Begin starts a batch of changes. Only the writer goroutine uses batches, one at a time.
	Begin() Batch
	// Sync makes everything committed so far durable.
	Sync() error
	Close() error
}

// Batch is a group of changes that later reads of the same batch see. The store may commit
// a batch in several parts, but only at checkpoints, so what is on disk after a crash is
// always the state of some checkpoint.
type Batch interface {
	// Meta returns an entry's metadata, or ErrNoEntry.
	Meta(id ID) (Meta, error)
	// Expired returns up to limit entries whose expiry is at or before t, soonest first.
	Expired(t time.Time, limit int) ([]Meta, error)
	// Tagged returns every entry carrying tag.
	Tagged(tag string) ([]Meta, error)
	// All returns up to limit entries.
	All(limit int) ([]Meta, error)
	// Put stores m and value with their index keys; no entry with m.ID is stored.
	Put(m Meta, value []byte) error
	// Delete removes the entry m describes, with its index keys.
	Delete(m Meta) error
	// SetStamp persists a later use of id (an entry that exists).
	SetStamp(id ID, stamp uint64) error
	// Checkpoint says everything written so far, with s, is a consistent state; the store
	// may commit here.
	Checkpoint(s State) error
	// Commit commits everything with s. The batch is done after it.
	Commit(s State) error
	// Discard drops what is not committed; harmless after Commit.
	Discard()
}
