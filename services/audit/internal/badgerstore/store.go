// Package badgerstore keeps the audit log in Badger.
//
// Layout:
//
//	'e' seq(8, big-endian)                                   -> Event (protobuf)
//	'x' kind(1) len(2, big-endian) value seq(8, big-endian)  -> empty (secondary index)
//
// Big-endian sequence numbers make key order the log order, so scans are range reads.
package badgerstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

const (
	prefixEvent = 'e'
	prefixIndex = 'x'
)

// Store implements ledger.Store.
type Store struct {
	db *badgerdb.DB
}

var _ ledger.Store = (*Store)(nil)

// New wraps an open database; the store closes it.
func New(db *badgerdb.DB) *Store { return &Store{db: db} }

// DB is the underlying database (for garbage collection and tests).
func (s *Store) DB() *badgerdb.DB { return s.db }

// EventKey is the key of an event (exported for tamper tests).
func EventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixEvent}, seq)
}

func indexPrefix(kind ledger.IndexKind, value string) []byte {
	b := []byte{prefixIndex, byte(kind)}
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// Append writes events and their index entries in one commit, or more only when a batch is
// larger than one Badger transaction may be. Sync makes them durable.
func (s *Store) Append(events []*auditv1.Event) error {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	set := func(k, v []byte) error {
		err := txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			err = txn.Set(k, v)
		}
		return err
	}
	for _, e := range events {
		v, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %d: %w", e.GetSeq(), err)
		}
		if err := set(EventKey(e.GetSeq()), v); err != nil {
			return fmt.Errorf("write event %d: %w", e.GetSeq(), err)
		}
		for _, ix := range []ledger.Index{
			{Kind: ledger.IndexSession, Value: e.GetSessionId()},
			{Kind: ledger.IndexCorrelation, Value: e.GetCorrelationId()},
			{Kind: ledger.IndexTool, Value: e.GetTool()},
		} {
			if ix.Value == "" {
				continue
			}
			k := binary.BigEndian.AppendUint64(indexPrefix(ix.Kind, ix.Value), e.GetSeq())
			if err := set(k, nil); err != nil {
				return fmt.Errorf("write index of event %d: %w", e.GetSeq(), err)
			}
		}
	}
	return txn.Commit()
}

// Last returns the event with the highest seq.
func (s *Store) Last() (*auditv1.Event, error) {
	var last *auditv1.Event
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.Prefix = []byte{prefixEvent}
		it := txn.NewIterator(opts)
		defer it.Close()
		it.Seek(EventKey(^uint64(0)))
		if !it.Valid() {
			return nil
		}
		var err error
		last, err = decode(it.Item())
		return err
	})
	return last, err
}

// Get returns one event.
func (s *Store) Get(seq uint64) (*auditv1.Event, error) {
	var e *auditv1.Event
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(EventKey(seq))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("seq %d: %w", seq, ledger.ErrNoEvent)
		}
		if err != nil {
			return err
		}
		e, err = decode(item)
		return err
	})
	return e, err
}

// Scan walks the log, or one index of it, after a sequence number, from one snapshot.
func (s *Store) Scan(ctx context.Context, idx ledger.Index, after uint64, fn func(*auditv1.Event) (bool, error)) error {
	return s.db.View(func(txn *badger.Txn) error {
		if idx.Kind == ledger.IndexAll {
			return scanEvents(ctx, txn, after, fn)
		}
		return scanIndex(ctx, txn, indexPrefix(idx.Kind, idx.Value), after, fn)
	})
}

func scanEvents(ctx context.Context, txn *badger.Txn, after uint64, fn func(*auditv1.Event) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{prefixEvent}
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(EventKey(after + 1)); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := decode(it.Item())
		if err != nil {
			return err
		}
		if more, err := fn(e); err != nil || !more {
			return err
		}
	}
	return nil
}

func scanIndex(ctx context.Context, txn *badger.Txn, prefix []byte, after uint64, fn func(*auditv1.Event) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false // index entries are keys only
	it := txn.NewIterator(opts)
	defer it.Close()
	start := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), after+1)
	for it.Seek(start); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := it.Item().Key()
		seq := binary.BigEndian.Uint64(key[len(key)-8:])
		item, err := txn.Get(EventKey(seq))
		if err != nil {
			return fmt.Errorf("index names event %d: %w", seq, err)
		}
		e, err := decode(item)
		if err != nil {
			return err
		}
		if more, err := fn(e); err != nil || !more {
			return err
		}
	}
	return nil
}

func decode(item *badger.Item) (*auditv1.Event, error) {
	key := item.Key()
	seq := binary.BigEndian.Uint64(key[1:])
	e := &auditv1.Event{}
	err := item.Value(func(v []byte) error { return proto.Unmarshal(v, e) })
	if err != nil {
		return nil, &ledger.CorruptError{Seq: seq, Err: err}
	}
	return e, nil
}

// Sync makes the names of files the last commits created durable (each commit is synced
// as it is made; see platform/badgerdb).
func (s *Store) Sync() error { return s.db.Sync() }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
