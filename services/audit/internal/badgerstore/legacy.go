package badgerstore

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

// LegacyEvents counts format-1 events when the store is not marked as migrated; a migrated
// store's leftover format-1 events (a crash during FinishMigration) are deleted here.
func (s *Store) LegacyEvents() (uint64, error) {
	migrated := false
	var n uint64
	err := s.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get([]byte(formatKey)); err == nil {
			migrated = true
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.Prefix = []byte{prefixLegacy}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		it.Seek(LegacyKey(^uint64(0)))
		if it.Valid() {
			n = binary.BigEndian.Uint64(it.Item().Key()[1:])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if migrated {
		if n > 0 {
			return 0, s.dropLegacy()
		}
		return 0, nil
	}
	if n == 0 {
		// A new store: mark it, so a format-1 event can never appear later unnoticed.
		return 0, s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(formatKey), []byte("2")) })
	}
	return n, nil
}

// ScanLegacy reads every format-1 event in seq order.
func (s *Store) ScanLegacy(ctx context.Context, fn func(*auditv1.Event) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		return scanPrefix(ctx, txn, prefixLegacy, 0, decodeLegacy, func(e *auditv1.Event) (bool, error) {
			return true, fn(e)
		})
	})
}

func decodeLegacy(item *badger.Item) (*auditv1.Event, error) {
	seq := binary.BigEndian.Uint64(item.Key()[1:])
	e := &auditv1.Event{}
	if err := item.Value(func(v []byte) error { return proto.Unmarshal(v, e) }); err != nil {
		return nil, &ledger.CorruptError{Seq: seq, Err: err}
	}
	return e, nil
}

// FinishMigration marks the store as format 2, then deletes the format-1 events.
func (s *Store) FinishMigration() error {
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(formatKey), []byte("2")) }); err != nil {
		return err
	}
	return s.dropLegacy()
}

// dropLegacy deletes the format-1 events. DropPrefix flushes the memtable, which creates a new
// WAL file: Sync makes its name durable (see platform/badgerdb).
func (s *Store) dropLegacy() error {
	if err := s.db.DropPrefix([]byte{prefixLegacy}); err != nil {
		return err
	}
	return s.db.Sync()
}
