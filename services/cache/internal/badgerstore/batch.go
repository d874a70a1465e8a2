package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
)

// batch writes into one Badger transaction and commits only at checkpoints, when the
// transaction has used half of what Badger allows. Between two checkpoints the cache writes
// at most one entry (value under 1 MiB inline, larger ones go to the value log and count as
// a pointer) or removes one entry, which is far less than the other half, so Badger's
// ErrTxnTooBig cannot strike between checkpoints and every commit holds a consistent state.
// If it strikes anyway (a bug in that estimate), the batch commits what it has and continues,
// as Badger recommends; the cache's start-up takes the revision from the records too.
type batch struct {
	db    *badgerdb.DB
	txn   *badger.Txn
	state []byte // the state of the last checkpoint, written with every commit

	commits              int   // transactions committed (tests check the splitting)
	used, count          int64 // estimated transaction size and entries since the last commit
	maxUsed, maxCount    int64
	inlineValueThreshold int64
}

func newBatch(db *badgerdb.DB) *batch {
	return &batch{
		db:                   db,
		txn:                  db.NewTransaction(true),
		maxUsed:              db.MaxBatchSize() / 2,
		maxCount:             db.MaxBatchCount() / 2,
		inlineValueThreshold: db.Opts().ValueThreshold,
	}
}

// estimate mirrors Badger's Entry.estimateSize plus the version bytes txn.checkSize adds.
func (b *batch) estimate(k, v []byte) int64 {
	if int64(len(v)) < b.inlineValueThreshold {
		return int64(len(k)+len(v)) + 2 + 10
	}
	return int64(len(k)) + 12 + 2 + 10
}

func (b *batch) write(k, v []byte, del bool) error {
	op := func() error {
		if del {
			return b.txn.Delete(k)
		}
		return b.txn.Set(k, v)
	}
	err := op()
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := b.commit(); err != nil {
			return err
		}
		err = op()
	}
	if err != nil {
		return err
	}
	b.used += b.estimate(k, v)
	b.count++
	return nil
}

// commit commits the transaction with the last checkpoint's state and opens the next one.
func (b *batch) commit() error {
	if err := b.commitWithState(); err != nil {
		return err
	}
	b.txn = b.db.NewTransaction(true)
	b.used, b.count = 0, 0
	return nil
}

func (b *batch) commitWithState() error {
	if b.state != nil {
		err := b.txn.Set([]byte{prefixState}, b.state)
		if errors.Is(err, badger.ErrTxnTooBig) { // only if the estimate is wrong; see batch
			if err := b.txn.Commit(); err != nil {
				return err
			}
			b.commits++
			b.txn = b.db.NewTransaction(true)
			err = b.txn.Set([]byte{prefixState}, b.state)
		}
		if err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	}
	if err := b.txn.Commit(); err != nil {
		return err
	}
	b.commits++
	return nil
}

// Meta reads an entry's metadata, seeing this batch's own changes.
func (b *batch) Meta(id entrycache.ID) (entrycache.Meta, error) { return readMeta(b.txn, id) }

// Expired scans the expiry index from the oldest time up to t.
func (b *batch) Expired(t time.Time, limit int) ([]entrycache.Meta, error) {
	var ids []entrycache.ID
	end := binary.BigEndian.Uint64(expiryPrefix(t)[1:])
	err := iterate(b.txn, []byte{prefixExpiry}, nil, false, func(k, _ []byte) (bool, error) {
		if len(k) < 9 || binary.BigEndian.Uint64(k[1:9]) > end {
			return false, nil
		}
		id, err := parseID(k[9:])
		if err != nil {
			return false, err
		}
		ids = append(ids, id)
		return len(ids) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	return b.metas(ids)
}

// Tagged scans the tag index.
func (b *batch) Tagged(tag string) ([]entrycache.Meta, error) {
	prefix := tagPrefix(tag)
	var ids []entrycache.ID
	err := iterate(b.txn, prefix, nil, false, func(k, _ []byte) (bool, error) {
		id, err := parseID(k[len(prefix):])
		if err != nil {
			return false, err
		}
		ids = append(ids, id)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return b.metas(ids)
}

// All returns up to limit entries.
func (b *batch) All(limit int) ([]entrycache.Meta, error) {
	var out []entrycache.Meta
	err := iterate(b.txn, []byte{prefixMeta}, nil, true, func(k, v []byte) (bool, error) {
		id, err := parseID(k[1:])
		if err != nil {
			return false, err
		}
		m, err := decodeMeta(id, v)
		if err != nil {
			return false, err
		}
		out = append(out, m)
		return len(out) < limit, nil
	})
	return out, err
}

// metas reads the records an index named. Index keys are written and removed with their
// record in the same checkpoint, so a missing record is corruption, not a race.
func (b *batch) metas(ids []entrycache.ID) ([]entrycache.Meta, error) {
	out := make([]entrycache.Meta, 0, len(ids))
	for _, id := range ids {
		m, err := readMeta(b.txn, id)
		if err != nil {
			return nil, fmt.Errorf("index names entry %s/%s: %w", id.Namespace, id.Key, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Put writes an entry's records and index keys.
func (b *batch) Put(m entrycache.Meta, value []byte) error {
	if err := b.write(recordKey(prefixMeta, m.ID), encodeMeta(m), false); err != nil {
		return err
	}
	if err := b.write(recordKey(prefixValue, m.ID), value, false); err != nil {
		return err
	}
	if err := b.write(expiryKey(m), nil, false); err != nil {
		return err
	}
	for _, t := range m.Tags {
		if err := b.write(tagKey(t, m.ID), nil, false); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes an entry's records and index keys.
func (b *batch) Delete(m entrycache.Meta) error {
	keys := [][]byte{recordKey(prefixMeta, m.ID), recordKey(prefixValue, m.ID), recordKey(prefixUse, m.ID), expiryKey(m)}
	for _, t := range m.Tags {
		keys = append(keys, tagKey(t, m.ID))
	}
	for _, k := range keys {
		if err := b.write(k, nil, true); err != nil {
			return err
		}
	}
	return nil
}

// SetStamp persists a later use of an entry.
func (b *batch) SetStamp(id entrycache.ID, stamp uint64) error {
	return b.write(recordKey(prefixUse, id), binary.BigEndian.AppendUint64(nil, stamp), false)
}

// Checkpoint commits when the transaction is half full.
func (b *batch) Checkpoint(s entrycache.State) error {
	b.state = encodeState(s)
	if b.used < b.maxUsed && b.count < b.maxCount {
		return nil
	}
	return b.commit()
}

// Commit commits everything with s.
func (b *batch) Commit(s entrycache.State) error {
	b.state = encodeState(s)
	return b.commitWithState()
}

// Discard drops the uncommitted rest.
func (b *batch) Discard() { b.txn.Discard() }
