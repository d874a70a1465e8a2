// Package badgerstore keeps the cache in Badger: the one store of record.
//
// Layout (id = len(namespace) as one byte, namespace, key):
//
//	'e' id                                   -> metadata (encodeMeta)
//	'v' id                                   -> value
//	'x' expires_at(8, big-endian ns) id      -> empty: expiry index, in time order
//	't' len(tag)(2, big-endian) tag id       -> empty: tag index
//	'a' id                                   -> last use (8, big-endian), persisted lazily
//	's'                                      -> cache state (encodeState)
//
// Big-endian times make key order the expiry order, so finding expired entries is a range
// scan from the start of 'x' to now. Metadata and value are separate records so start-up
// reads only the small metadata.
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

const (
	prefixMeta   = 'e'
	prefixValue  = 'v'
	prefixExpiry = 'x'
	prefixTag    = 't'
	prefixUse    = 'a'
	prefixState  = 's'
)

// Store implements entrycache.Store.
type Store struct {
	db *badgerdb.DB
}

var _ entrycache.Store = (*Store)(nil)

// New wraps an open database; the store closes it.
func New(db *badgerdb.DB) *Store { return &Store{db: db} }

func appendID(b []byte, id entrycache.ID) []byte {
	b = append(b, byte(len(id.Namespace)))
	b = append(b, id.Namespace...)
	return append(b, id.Key...)
}

func parseID(b []byte) (entrycache.ID, error) {
	if len(b) == 0 || int(b[0]) > len(b)-1 {
		return entrycache.ID{}, fmt.Errorf("malformed entry id %q", b)
	}
	n := int(b[0])
	return entrycache.ID{Namespace: string(b[1 : 1+n]), Key: string(b[1+n:])}, nil
}

func recordKey(prefix byte, id entrycache.ID) []byte { return appendID([]byte{prefix}, id) }

func expiryPrefix(t time.Time) []byte {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0 // before 1970: sorts first, which is right for "long expired"
	}
	return binary.BigEndian.AppendUint64([]byte{prefixExpiry}, uint64(ns))
}

func expiryKey(m entrycache.Meta) []byte { return appendID(expiryPrefix(m.ExpiresAt), m.ID) }

func tagPrefix(tag string) []byte {
	b := binary.BigEndian.AppendUint16([]byte{prefixTag}, uint16(len(tag)))
	return append(b, tag...)
}

func tagKey(tag string, id entrycache.ID) []byte { return appendID(tagPrefix(tag), id) }

// LoadState returns the persisted state.
func (s *Store) LoadState() (entrycache.State, error) {
	var st entrycache.State
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte{prefixState})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			st, err = decodeState(v)
			return err
		})
	})
	return st, err
}

// ScanMeta reads every entry's metadata, with the latest persisted use as Stamp.
func (s *Store) ScanMeta(fn func(entrycache.Meta) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		uses := map[string]uint64{}
		err := iterate(txn, []byte{prefixUse}, nil, true, func(k, v []byte) (bool, error) {
			if len(v) != 8 {
				return false, fmt.Errorf("use record %q is %d bytes, want 8", k, len(v))
			}
			uses[string(k[1:])] = binary.BigEndian.Uint64(v)
			return true, nil
		})
		if err != nil {
			return err
		}
		return iterate(txn, []byte{prefixMeta}, nil, true, func(k, v []byte) (bool, error) {
			id, err := parseID(k[1:])
			if err != nil {
				return false, err
			}
			m, err := decodeMeta(id, v)
			if err != nil {
				return false, err
			}
			m.Stamp = max(m.Stamp, uses[string(k[1:])])
			return true, fn(m)
		})
	})
}

// Read returns an entry's metadata and value from one snapshot.
func (s *Store) Read(id entrycache.ID) (entrycache.Meta, []byte, error) {
	var (
		m     entrycache.Meta
		value []byte
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if m, err = readMeta(txn, id); err != nil {
			return err
		}
		item, err := txn.Get(recordKey(prefixValue, id))
		if err != nil {
			return fmt.Errorf("value of entry %s/%s: %w", id.Namespace, id.Key, err)
		}
		value, err = item.ValueCopy(nil)
		return err
	})
	return m, value, err
}

func readMeta(txn *badger.Txn, id entrycache.ID) (entrycache.Meta, error) {
	item, err := txn.Get(recordKey(prefixMeta, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return entrycache.Meta{}, entrycache.ErrNoEntry
	}
	if err != nil {
		return entrycache.Meta{}, err
	}
	var m entrycache.Meta
	err = item.Value(func(v []byte) error {
		m, err = decodeMeta(id, v)
		return err
	})
	return m, err
}

// iterate calls fn with each key (and value, when values is set) under prefix, from start
// (or the prefix) on, until fn returns false. The slices are valid only during the call.
func iterate(txn *badger.Txn, prefix, start []byte, values bool, fn func(k, v []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = values
	it := txn.NewIterator(opts)
	defer it.Close()
	if start == nil {
		start = prefix
	}
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		var v []byte
		if values {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		more, err := fn(item.Key(), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Begin starts a batch of changes.
func (s *Store) Begin() entrycache.Batch { return newBatch(s.db) }

// Sync makes the names of files the last commits created durable (each commit is synced
// as it is made; see platform/badgerdb).
func (s *Store) Sync() error { return s.db.Sync() }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
