package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/skl"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// Store implements sessions.Store.
type Store struct {
	db *badgerdb.DB
	// A Tx commits at a checkpoint once it holds this many bytes or entries: a quarter of
	// what Badger allows in one transaction (15% of a memtable), so the next item, unless it
	// carries a value near the memtable size, fits whole in what is left.
	checkpointBytes int64
	checkpointCount int
}

var _ sessions.Store = (*Store)(nil)

// New wraps an open database; the store closes it.
func New(db *badgerdb.DB) *Store {
	maxBatch := db.Opts().MemTableSize * 15 / 100
	return &Store{
		db:              db,
		checkpointBytes: maxBatch / 4,
		checkpointCount: int(maxBatch / int64(skl.MaxNodeSize) / 4),
	}
}

// DB is the underlying database (for garbage collection and tests).
func (s *Store) DB() *badgerdb.DB { return s.db }

// Read runs fn on a snapshot.
func (s *Store) Read(fn func(sessions.Reader) error) error {
	return s.db.View(func(txn *badger.Txn) error { return fn(&reader{txn: txn}) })
}

// Write runs fn on a read-write transaction and commits it.
func (s *Store) Write(fn func(sessions.Tx) error) error {
	t := &tx{reader: reader{txn: s.db.NewTransaction(true)}, s: s}
	defer func() { t.txn.Discard() }()
	if err := fn(t); err != nil {
		return err
	}
	return t.txn.Commit()
}

// CountSessions counts session records.
func (s *Store) CountSessions() (int, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) (err error) {
		n, err = (&reader{txn: txn}).countSessions()
		return err
	})
	return n, err
}

// Sync makes the names of files the last commits created durable (each commit is synced
// as it is made; see platform/badgerdb).
func (s *Store) Sync() error { return s.db.Sync() }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// tx implements sessions.Tx. Its reader's txn is replaced at each commit it makes.
type tx struct {
	reader
	s       *Store
	bytes   int64
	entries int
}

// commit commits what the tx holds and continues in a new transaction.
func (t *tx) commit() error {
	if err := t.txn.Commit(); err != nil {
		return err
	}
	t.txn = t.s.db.NewTransaction(true)
	t.bytes, t.entries = 0, 0
	return nil
}

func (t *tx) Flush() error {
	if t.entries == 0 {
		return nil
	}
	return t.commit()
}

func (t *tx) Checkpoint() error {
	if t.bytes < t.s.checkpointBytes && t.entries < t.s.checkpointCount {
		return nil
	}
	return t.commit()
}

// modify applies one change; when Badger says the transaction is full, it commits and
// retries in a new one (only reachable for items larger than a checkpoint's headroom).
func (t *tx) modify(key, value []byte, del bool) error {
	do := func() error {
		if del {
			return t.txn.Delete(key)
		}
		return t.txn.Set(key, value)
	}
	err := do()
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err = t.commit(); err != nil {
			return err
		}
		err = do()
	}
	if err != nil {
		return err
	}
	t.bytes += int64(len(key) + len(value) + 12)
	t.entries++
	return nil
}

func (t *tx) set(key, value []byte) error { return t.modify(key, value, false) }
func (t *tx) del(key []byte) error        { return t.modify(key, nil, true) }

func (t *tx) PutSession(prev, rec *sessions.Record) error {
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	if err := t.set(metaKey(rec.ID), b); err != nil {
		return err
	}
	if prev != nil && prev.Indexed.Equal(rec.Indexed) {
		return nil
	}
	if prev != nil {
		if err := t.del(IndexKey(prev.Indexed, prev.ID)); err != nil {
			return err
		}
	}
	return t.set(IndexKey(rec.Indexed, rec.ID), nil)
}

func (t *tx) RemoveSession(rec *sessions.Record) error {
	if err := t.del(metaKey(rec.ID)); err != nil {
		return err
	}
	if err := t.del(IndexKey(rec.Indexed, rec.ID)); err != nil {
		return err
	}
	return t.MarkPurge(rec.ID, rec.ValueGen)
}

func (t *tx) PutValue(id string, gen uint32, key string, v *sessions.Value) error {
	b, err := encodeValue(v)
	if err != nil {
		return err
	}
	return t.set(valueKey(id, gen, key), b)
}

func (t *tx) DeleteValue(id string, gen uint32, key string) error {
	return t.del(valueKey(id, gen, key))
}

func (t *tx) AppendHistory(id string, tr *sessionv1.Transition) error {
	b, err := encodeTransition(tr)
	if err != nil {
		return err
	}
	return t.set(historyKey(id, tr.GetSeq()), b)
}

func (t *tx) DeleteHistory(id string, seq uint64) error { return t.del(historyKey(id, seq)) }

func (t *tx) MarkPurge(id string, below uint32) error {
	return t.set(markKey(id), binary.BigEndian.AppendUint32(nil, below))
}

func (t *tx) Purge(id string, limit int) (int, bool, error) {
	var below uint32
	marked, err := t.get(markKey(id), func(b []byte) error {
		if len(b) != 4 {
			return fmt.Errorf("purge mark of %q is %d bytes, want 4", id, len(b))
		}
		below = binary.BigEndian.Uint32(b)
		return nil
	})
	if err != nil || !marked {
		return 0, true, err
	}
	rec, err := t.Session(id)
	if err != nil {
		return 0, false, err
	}
	// Without a record every key of the group goes; with one (values cleared while the
	// session lives on) only value generations below the mark.
	scope := Group(id)
	if rec != nil {
		scope = valuesPrefix(id)
	}
	// The keys are listed from a snapshot of what is committed, not from this transaction:
	// Badger sorts a read-write transaction's pending writes for every iterator it opens,
	// which made a sweep of thousands of sessions quadratic.
	snap := t.s.db.NewTransaction(false)
	defer snap.Discard()
	var keys [][]byte
	exhausted := true
	err = (&reader{txn: snap}).scan(scope, scope, false, func(item *badger.Item) (bool, error) {
		key := item.Key()
		if rec != nil && binary.BigEndian.Uint32(key[len(scope):len(scope)+4]) >= below {
			return false, nil // generations are in order: the rest is live
		}
		if len(keys) == limit {
			exhausted = false
			return false, nil
		}
		keys = append(keys, item.KeyCopy(nil))
		return true, nil
	})
	if err != nil {
		return 0, false, err
	}
	for _, k := range keys {
		if err := t.del(k); err != nil {
			return 0, false, err
		}
	}
	if !exhausted {
		return len(keys), false, nil
	}
	return len(keys), true, t.del(markKey(id))
}
