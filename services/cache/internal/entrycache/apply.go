package entrycache

import (
	"errors"
	"fmt"
	"time"

	"github.com/osirisplane/osiris/platform/writer"
)

// Chunk sizes of the writer's bulk work, so one item never holds the writer for long.
const (
	// ExpiryChunk bounds the expired entries one sweep or ClearExpired item removes.
	ExpiryChunk = 1000
	// RecencyChunk bounds the recency stamps one persist item writes.
	RecencyChunk = 4096
	// expiredScan is how many expired entries making room looks up at once.
	expiredScan = 64
)

type opKind int

const (
	opPut          opKind = iota + 1
	opDelete              // remove one entry
	opInvalidate          // remove the entries carrying a tag
	opClearAll            // remove every entry
	opClearExpired        // remove up to ExpiryChunk expired entries
	opExpire              // remove one entry a reader found expired, if unchanged
	opPersist             // persist recency stamps (and the state, as every item does)
	opFit                 // evict until the store is within the bounds
)

// op is one writer item.
type op struct {
	kind     opKind
	id       ID
	value    []byte
	ttl      time.Duration
	tags     []string
	tag      string
	revision uint64 // opExpire: the revision the reader saw
}

// outcome is what the writer reports for one item.
type outcome struct {
	revision uint64
	meta     Meta   // opPut
	removed  uint64 // live entries removed
	more     bool   // chunked ops: call again
}

// run is the writer's view of one batch.
type run struct {
	b   Batch
	now time.Time
	// Expired entries found by the last scan, soonest first, and whether the scan saw all.
	expired     []Meta
	expiredDone bool
}

// apply runs on the writer goroutine. Every item is applied in order into one batch; the
// in-memory recency order and counters change with it. If anything fails, the in-memory
// state is rebuilt from the store, since it may be ahead of what was committed.
func (c *Cache) apply(items []op) ([]writer.Result[outcome], error) {
	if c.broken != nil {
		return nil, c.broken
	}
	r := &run{b: c.store.Begin(), now: c.clock.Now()}
	defer r.b.Discard()
	results := make([]writer.Result[outcome], len(items))
	for i, o := range items {
		c.state.Revision++
		out, err := c.applyOne(r, o)
		if err == nil {
			err = r.b.Checkpoint(c.persistedState())
		}
		if err != nil {
			return nil, c.recover(err)
		}
		out.revision = c.state.Revision
		results[i].Value = out
	}
	if err := r.b.Commit(c.persistedState()); err != nil {
		return nil, c.recover(err)
	}
	c.publish()
	return results, nil
}

func (c *Cache) recover(err error) error {
	c.cfg.Log.Error("cache write failed; reloading state from the store", "err", err)
	if lerr := c.load(); lerr != nil {
		c.broken = fmt.Errorf("cache state cannot be rebuilt after a failed write; restart the service: %w", lerr)
		return errors.Join(err, c.broken)
	}
	c.publish()
	return err
}

func (c *Cache) applyOne(r *run, o op) (outcome, error) {
	switch o.kind {
	case opPut:
		return c.put(r, o)
	case opDelete:
		m, err := r.b.Meta(o.id)
		if errors.Is(err, ErrNoEntry) {
			return outcome{}, nil
		}
		if err != nil {
			return outcome{}, err
		}
		return c.removeAll(r, []Meta{m})
	case opInvalidate:
		ms, err := r.b.Tagged(o.tag)
		if err != nil {
			return outcome{}, err
		}
		return c.removeAll(r, ms)
	case opClearAll:
		ms, err := r.b.All(c.cfg.MaxEntries + 1)
		if err != nil {
			return outcome{}, err
		}
		return c.removeAll(r, ms)
	case opClearExpired:
		ms, err := r.b.Expired(r.now, ExpiryChunk)
		if err != nil {
			return outcome{}, err
		}
		out, err := c.removeAll(r, ms)
		out.removed, out.more = uint64(len(ms)), len(ms) == ExpiryChunk
		return out, err
	case opExpire:
		m, err := r.b.Meta(o.id)
		if errors.Is(err, ErrNoEntry) || (err == nil && (m.Revision != o.revision || !m.Expired(r.now))) {
			return outcome{}, nil // already gone or replaced
		}
		if err != nil {
			return outcome{}, err
		}
		return c.removeAll(r, []Meta{m})
	case opPersist:
		uses, more := c.lru.Dirty(RecencyChunk)
		for _, u := range uses {
			if err := r.b.SetStamp(idOfTrackerKey(u.Key), u.Stamp); err != nil {
				return outcome{}, err
			}
		}
		return outcome{more: more}, nil
	case opFit:
		return outcome{}, c.makeRoom(r, 0, 0, ID{})
	}
	return outcome{}, fmt.Errorf("unknown writer op %d", o.kind)
}

// put replaces the old entry, if any, and the new one in one step with no checkpoint
// between them, so a crash leaves the key with either value, never without one. Room is made
// first (evictions are consistent points of their own); the old entry's space counts as free
// and it is never chosen as a victim.
func (c *Cache) put(r *run, o op) (outcome, error) {
	old, err := r.b.Meta(o.id)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNoEntry) {
		return outcome{}, err
	}
	m := Meta{
		ID:        o.id,
		Revision:  c.state.Revision,
		CreatedAt: r.now,
		ExpiresAt: r.now.Add(o.ttl),
		TTL:       o.ttl,
		Tags:      o.tags,
		ValueSize: int64(len(o.value)),
	}
	if found {
		c.lru.Remove(o.id.trackerKey())
	}
	if err := c.makeRoom(r, 1, m.Size(), o.id); err != nil {
		return outcome{}, err
	}
	if found {
		if err := r.b.Delete(old); err != nil {
			return outcome{}, err
		}
		if old.Expired(r.now) {
			c.state.Expirations++
		}
	}
	m.Stamp = c.lru.Next()
	if err := r.b.Put(m, o.value); err != nil {
		return outcome{}, err
	}
	c.lru.Add(m.ID.trackerKey(), m.Revision, m.Size(), m.Stamp)
	return outcome{meta: m}, nil
}

// removeAll removes entries. Each one that was expired counts as an expiration; the others
// are the live entries removed, which the caller reports.
func (c *Cache) removeAll(r *run, ms []Meta) (outcome, error) {
	var out outcome
	for _, m := range ms {
		expired, err := c.remove(r, m)
		if err != nil {
			return out, err
		}
		if !expired {
			out.removed++
		}
	}
	return out, nil
}

// remove deletes one entry and keeps count of expirations. It is a consistent point.
func (c *Cache) remove(r *run, m Meta) (expired bool, err error) {
	if err := r.b.Delete(m); err != nil {
		return false, err
	}
	c.lru.Remove(m.ID.trackerKey())
	expired = m.Expired(r.now)
	if expired {
		c.state.Expirations++
	}
	return expired, r.b.Checkpoint(c.persistedState())
}

// makeRoom removes entries until entries more and size more bytes fit within the bounds:
// first expired entries (soonest expiry first; they are dead anyway), then the least
// recently used live ones, each counted as an eviction. The entry keep (being replaced) is
// left alone.
func (c *Cache) makeRoom(r *run, entries int, size int64, keep ID) error {
	over := func() bool {
		return c.lru.Len()+entries > c.cfg.MaxEntries || c.lru.Bytes()+size > c.cfg.MaxBytes
	}
	for over() {
		m, ok, err := c.nextExpired(r, keep)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if _, err := c.remove(r, m); err != nil {
			return err
		}
	}
	for over() {
		key, ok := c.lru.Victim()
		if !ok {
			return fmt.Errorf("cache is empty but %d bytes do not fit in %d", size, c.cfg.MaxBytes)
		}
		m, err := r.b.Meta(idOfTrackerKey(key))
		if err != nil {
			return fmt.Errorf("eviction victim %q: %w", key, err)
		}
		if _, err := c.remove(r, m); err != nil {
			return err
		}
		c.state.Evictions++
	}
	return nil
}

// nextExpired returns an expired entry still stored (other than keep), scanning the expiry
// index in small steps and remembering what it found for the rest of the batch.
func (c *Cache) nextExpired(r *run, keep ID) (Meta, bool, error) {
	for {
		for len(r.expired) > 0 {
			m := r.expired[0]
			r.expired = r.expired[1:]
			// Skip what an earlier item removed or replaced, and the entry being replaced.
			if m.ID != keep && c.lru.Holds(m.ID.trackerKey(), m.Revision) {
				return m, true, nil
			}
		}
		if r.expiredDone {
			return Meta{}, false, nil
		}
		ms, err := r.b.Expired(r.now, expiredScan)
		if err != nil {
			return Meta{}, false, err
		}
		r.expired, r.expiredDone = ms[:0:0], len(ms) < expiredScan
		for _, m := range ms {
			if m.ID == keep {
				continue
			}
			if !c.lru.Holds(m.ID.trackerKey(), m.Revision) {
				// Stored but not tracked: rescanning would find it again forever.
				return Meta{}, false, fmt.Errorf("expiry index names %s/%s, which the recency order does not hold", m.ID.Namespace, m.ID.Key)
			}
			r.expired = append(r.expired, m)
		}
	}
}
