// Package badgerstore keeps the audit log in Badger.
//
// Layout (format 2):
//
//	'l' seq(8, big-endian)                                   -> entry (below)
//	'x' kind(1) len(2, big-endian) value seq(8, big-endian)  -> empty (secondary index)
//	'c' size(8, big-endian)                                  -> signed checkpoint note
//	'm' "format"                                             -> "2"
//
// An entry is one byte k, then k 32-byte hashes (the leaf hash, then the perfect subtrees of
// levels 1..k-1 the leaf completes, see logtree), then the event as protobuf without its hash
// field (the leaf hash is the event's hash). One key per event holds the event and its part of
// the tree, so a commit can never store one without the other, and a node is read without
// decoding an event.
//
// Format 1 (releases before the tree) kept events under 'e' seq(8) as plain protobuf, hash
// chained; Legacy reads them for the one-time migration.
//
// Big-endian sequence numbers make key order the log order, so scans are range reads.
package badgerstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
)

const (
	prefixEntry      = 'l'
	prefixIndex      = 'x'
	prefixCheckpoint = 'c'
	prefixLegacy     = 'e'
	hashSize         = 32
)

// formatKey marks a store as format 2.
const formatKey = "mformat"

// Store implements ledger.Store and ledger.Legacy.
type Store struct {
	db *badgerdb.DB
}

var (
	_ ledger.Store  = (*Store)(nil)
	_ ledger.Legacy = (*Store)(nil)
)

// New wraps an open database; the store closes it.
func New(db *badgerdb.DB) *Store { return &Store{db: db} }

// DB is the underlying database (for garbage collection and tests).
func (s *Store) DB() *badgerdb.DB { return s.db }

// EventKey is the key of an event's entry (exported for tamper tests).
func EventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixEntry}, seq)
}

// LegacyKey is the key of a format-1 event (exported for migration tests).
func LegacyKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixLegacy}, seq)
}

func checkpointKey(size uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixCheckpoint}, size)
}

func indexPrefix(kind ledger.IndexKind, value string) []byte {
	b := []byte{prefixIndex, byte(kind)}
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// EncodeEntry is the stored form of an entry (exported for tamper tests, which rewrite
// history the way an attacker with the disk would).
func EncodeEntry(en ledger.Entry) ([]byte, error) {
	e := en.Event
	if len(e.GetHash()) != hashSize {
		return nil, fmt.Errorf("event %d has no leaf hash", e.GetSeq())
	}
	for _, n := range en.Nodes {
		if len(n) != hashSize {
			return nil, fmt.Errorf("event %d: a node hash is %d bytes", e.GetSeq(), len(n))
		}
	}
	k := 1 + len(en.Nodes)
	b := make([]byte, 0, 1+k*hashSize+proto.Size(e))
	b = append(b, byte(k))
	b = append(b, e.GetHash()...)
	for _, n := range en.Nodes {
		b = append(b, n...)
	}
	hash := e.Hash
	e.Hash = nil // stored once, as the leaf
	b, err := proto.MarshalOptions{}.MarshalAppend(b, e)
	e.Hash = hash
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.GetSeq(), err)
	}
	return b, nil
}

// DecodeEntry reads a stored entry back (exported for tamper tests).
func DecodeEntry(v []byte) (ledger.Entry, error) {
	hashes, rest, err := entryHashes(v)
	if err != nil {
		return ledger.Entry{}, err
	}
	e := &auditv1.Event{}
	if err := proto.Unmarshal(rest, e); err != nil {
		return ledger.Entry{}, err
	}
	e.Hash = hashes[0]
	return ledger.Entry{Event: e, Nodes: hashes[1:]}, nil
}

func entryHashes(v []byte) ([][]byte, []byte, error) {
	if len(v) == 0 || v[0] == 0 || len(v) < 1+int(v[0])*hashSize {
		return nil, nil, errors.New("entry is truncated")
	}
	k := int(v[0])
	hashes := make([][]byte, k)
	for i := range hashes {
		hashes[i] = v[1+i*hashSize : 1+(i+1)*hashSize : 1+(i+1)*hashSize]
	}
	return hashes, v[1+k*hashSize:], nil
}

// Append writes entries and their index entries in one commit, or more only when a batch is
// larger than one Badger transaction may be (each entry is still whole). Sync makes them
// durable.
func (s *Store) Append(entries []ledger.Entry) error {
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
	for _, en := range entries {
		e := en.Event
		v, err := EncodeEntry(en)
		if err != nil {
			return err
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
		opts.Prefix = []byte{prefixEntry}
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

// Nodes reads node hashes from the entries that hold them, from one snapshot.
func (s *Store) Nodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	err := s.db.View(func(txn *badger.Txn) error {
		for i, id := range ids {
			leaf, slot := logtree.NodeOwner(id)
			item, err := txn.Get(EventKey(leaf + 1))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("node (level %d, index %d) belongs to seq %d: %w", id.Level, id.Index, leaf+1, ledger.ErrNoEvent)
			}
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				hashes, _, err := entryHashes(v)
				if err != nil {
					return &ledger.CorruptError{Seq: leaf + 1, Err: err}
				}
				if slot >= len(hashes) {
					return &ledger.CorruptError{Seq: leaf + 1, Err: fmt.Errorf("entry holds %d tree levels, node of level %d asked", len(hashes), slot)}
				}
				out[i] = append([]byte(nil), hashes[slot]...)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Scan walks the log, or one index of it, after a sequence number, from one snapshot.
func (s *Store) Scan(ctx context.Context, idx ledger.Index, after uint64, fn func(*auditv1.Event) (bool, error)) error {
	return s.db.View(func(txn *badger.Txn) error {
		if idx.Kind == ledger.IndexAll {
			return scanPrefix(ctx, txn, prefixEntry, after, decode, fn)
		}
		return scanIndex(ctx, txn, indexPrefix(idx.Kind, idx.Value), after, fn)
	})
}

func scanPrefix(ctx context.Context, txn *badger.Txn, prefix byte, after uint64, dec func(*badger.Item) (*auditv1.Event, error), fn func(*auditv1.Event) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{prefix}
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(binary.BigEndian.AppendUint64([]byte{prefix}, after+1)); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := dec(it.Item())
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
	seq := binary.BigEndian.Uint64(item.Key()[1:])
	var en ledger.Entry
	err := item.Value(func(v []byte) error {
		var err error
		en, err = DecodeEntry(append([]byte(nil), v...))
		return err
	})
	if err != nil {
		return nil, &ledger.CorruptError{Seq: seq, Err: err}
	}
	return en.Event, nil
}

// PutCheckpoint stores a checkpoint; the commit is synced (SyncWrites) before it returns, and
// so is the name of a WAL file it may have rotated into.
func (s *Store) PutCheckpoint(size uint64, note []byte) error {
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(checkpointKey(size), note) }); err != nil {
		return err
	}
	return s.db.Sync()
}

// Checkpoint returns the checkpoint of exactly size leaves.
func (s *Store) Checkpoint(size uint64) ([]byte, error) {
	var note []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(checkpointKey(size))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("size %d: %w", size, ledger.ErrNoCheckpoint)
		}
		if err != nil {
			return err
		}
		note, err = item.ValueCopy(nil)
		return err
	})
	return note, err
}

// LastCheckpoint returns the checkpoint of the largest size.
func (s *Store) LastCheckpoint() (uint64, []byte, error) {
	var (
		size uint64
		note []byte
	)
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.Prefix = []byte{prefixCheckpoint}
		it := txn.NewIterator(opts)
		defer it.Close()
		it.Seek(checkpointKey(^uint64(0)))
		if !it.Valid() {
			return nil
		}
		size = binary.BigEndian.Uint64(it.Item().Key()[1:])
		var err error
		note, err = it.Item().ValueCopy(nil)
		return err
	})
	return size, note, err
}

// Sync makes the names of files the last commits created durable (each commit is synced
// as it is made; see platform/badgerdb).
func (s *Store) Sync() error { return s.db.Sync() }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
