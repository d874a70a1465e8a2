package entrycache

import (
	"context"
	"errors"
	"time"

	"github.com/osirisplane/osiris/platform/apierr"
)

// Get returns a live entry. A miss is NOT_FOUND, whether the entry is absent or expired;
// an expired one is removed by the writer (durably) before the answer.
func (c *Cache) Get(ctx context.Context, id ID) (Entry, error) {
	if err := validateID(id); err != nil {
		return Entry{}, err
	}
	now := c.clock.Now()
	m, value, err := c.store.Read(id)
	if errors.Is(err, ErrNoEntry) {
		c.misses.Add(1)
		return Entry{}, apierr.NotFound("no entry %s/%s", id.Namespace, id.Key)
	}
	if err != nil {
		return Entry{}, err
	}
	if m.Expired(now) {
		c.misses.Add(1)
		// The reply does not depend on this: the entry is expired for every reader already,
		// since the clock never goes back. Removing it now also makes that survive a crash.
		if _, err := c.q.Submit(ctx, op{kind: opExpire, id: id, revision: m.Revision}); err != nil {
			c.cfg.Log.Debug("remove expired entry on read", "namespace", id.Namespace, "err", err)
		}
		return Entry{}, apierr.NotFound("entry %s/%s expired at %s", id.Namespace, id.Key, m.ExpiresAt.Format(time.RFC3339Nano))
	}
	c.hits.Add(1)
	c.lru.Touch(id.trackerKey(), m.Revision)
	return Entry{Meta: m, Value: value}, nil
}

// Put stores an entry and returns its metadata once it is durable. ttl 0 means the default.
func (c *Cache) Put(ctx context.Context, id ID, value []byte, ttl time.Duration, tags []string) (Meta, error) {
	if err := validateID(id); err != nil {
		return Meta{}, err
	}
	if len(value) > c.cfg.MaxValueBytes {
		return Meta{}, apierr.Exhausted("value is %d bytes, over the limit of %d", len(value), c.cfg.MaxValueBytes)
	}
	if err := validateTags(tags); err != nil {
		return Meta{}, err
	}
	ttl, err := c.ttlOf(ttl)
	if err != nil {
		return Meta{}, err
	}
	size := Meta{ID: id, Tags: tags, ValueSize: int64(len(value))}.Size()
	if size > c.cfg.MaxBytes {
		return Meta{}, apierr.Exhausted("entry is %d bytes (namespace, key, value and tags), over the cache's limit of %d", size, c.cfg.MaxBytes)
	}
	n := int64(len(value))
	if c.pending.Add(n) > c.cfg.MaxPendingBytes && n > 0 {
		c.pending.Add(-n)
		return Meta{}, apierr.Exhausted("too many value bytes wait for the writer (limit %d); retry later", c.cfg.MaxPendingBytes)
	}
	defer c.pending.Add(-n)
	out, err := c.q.Submit(ctx, op{kind: opPut, id: id, value: value, ttl: ttl, tags: append([]string(nil), tags...)})
	return out.meta, err
}

// Delete removes an entry; deleted is false when there was no live entry.
func (c *Cache) Delete(ctx context.Context, id ID) (deleted bool, revision uint64, err error) {
	if err := validateID(id); err != nil {
		return false, 0, err
	}
	out, err := c.q.Submit(ctx, op{kind: opDelete, id: id})
	return out.removed == 1, out.revision, err
}

// InvalidateByTag removes every entry carrying tag and returns how many live ones went.
func (c *Cache) InvalidateByTag(ctx context.Context, tag string) (removed, revision uint64, err error) {
	if err := validateText("tag", tag, MaxTagBytes); err != nil {
		return 0, 0, err
	}
	out, err := c.q.Submit(ctx, op{kind: opInvalidate, tag: tag})
	return out.removed, out.revision, err
}

// ClearAll removes every entry and returns how many live ones went.
func (c *Cache) ClearAll(ctx context.Context) (removed, revision uint64, err error) {
	out, err := c.q.Submit(ctx, op{kind: opClearAll})
	return out.removed, out.revision, err
}

// ClearExpired removes every entry expired now, in chunks of ExpiryChunk (other writes go
// between them), and returns how many went.
func (c *Cache) ClearExpired(ctx context.Context) (removed, revision uint64, err error) {
	// Each full chunk removed ExpiryChunk entries of at most MaxEntries, so this ends.
	for range c.cfg.MaxEntries/ExpiryChunk + 2 {
		out, err := c.q.Submit(ctx, op{kind: opClearExpired})
		if err != nil {
			return removed, revision, err
		}
		removed, revision = removed+out.removed, out.revision
		if !out.more {
			break
		}
	}
	return removed, revision, nil
}

// sweepLoop has the writer remove expired entries and persist recency every interval.
func (c *Cache) sweepLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, kind := range []opKind{opClearExpired, opPersist} {
			for more := true; more && ctx.Err() == nil; {
				out, err := c.q.Submit(ctx, op{kind: kind})
				if err != nil {
					c.cfg.Log.Debug("background sweep", "err", err) // queue full or closing: next tick
					break
				}
				more = out.more
			}
		}
	}
}
