// Package badgerstore keeps the telemetry store in Badger.
//
// Layout (integers big-endian, strings as a 2-byte length and the bytes):
//
//	'r' time(8, Unix ns) seq(8)                           -> ToolCall (protobuf)
//	'i' index(1) value time(8) seq(8)                     -> empty: calls by session, tool, correlation id
//	'e' seq(8)                                            -> ServerEvent (protobuf)
//	'a' 'g'                                               -> aggregate of all calls
//	'a' 't' tool                                          -> aggregate per tool
//	'a' 's' session tool                                  -> aggregate per session and tool
//	'a' 'w' level(1) start(8, Unix minutes) tool          -> aggregate per time bucket and tool
//	'a' 'v' session level(1) start(8) tool                -> aggregate per session, time bucket and tool
//	'n' 'c' / 'n' 'e'                                     -> last call / event seq (8)
//	'd' correlation_id                                    -> seq(8) time(8) of the call, with a TTL
//
// Calls are keyed by time then seq, so time ranges, retention and paging are range reads; the
// buckets of one level sort by start, so a window is a few range reads.
package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// Store implements recorder.Store.
type Store struct {
	db *badgerdb.DB
}

var _ recorder.Store = (*Store)(nil)

// New wraps an open database; the store closes it.
func New(db *badgerdb.DB) *Store { return &Store{db: db} }

// LastSeqs returns the last call and event seqs given out.
func (s *Store) LastSeqs() (calls, events uint64, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		for _, m := range []struct {
			key byte
			out *uint64
		}{{'c', &calls}, {'e', &events}} {
			item, err := txn.Get(metaKey(m.key))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("last seq %q is %d bytes, want 8", m.key, len(v))
				}
				*m.out = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return calls, events, err
}

// Aggregates reads the aggregates of keys from one snapshot.
func (s *Store) Aggregates(keys []recorder.AggKey) (map[recorder.AggKey]*aggregate.Aggregate, error) {
	out := make(map[recorder.AggKey]*aggregate.Aggregate, len(keys))
	err := s.db.View(func(txn *badger.Txn) error {
		for _, k := range keys {
			item, err := txn.Get(aggKey(k))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			a, err := decodeAggregate(item)
			if err != nil {
				return err
			}
			out[k] = a
		}
		return nil
	})
	return out, err
}

// Commit writes u in one transaction, or nothing.
func (s *Store) Commit(u *recorder.Unit) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	setEntry := func(e *badger.Entry) error {
		if err := txn.SetEntry(e); err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return fmt.Errorf("%w: %v", recorder.ErrTooBig, err)
			}
			return err
		}
		return nil
	}
	set := func(k, v []byte) error { return setEntry(badger.NewEntry(k, v)) }
	for _, c := range u.Calls {
		v, err := proto.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode call %d: %w", c.GetSeq(), err)
		}
		p := recorder.PositionOf(c)
		if err := set(CallKey(p), v); err != nil {
			return err
		}
		for _, k := range indexKeys(c, p) {
			if err := set(k, nil); err != nil {
				return err
			}
		}
		if c.GetCorrelationId() != "" && u.DedupeFor > 0 {
			if err := setEntry(dedupeEntry(c, u.DedupeFor)); err != nil {
				return err
			}
		}
	}
	for _, e := range u.Events {
		v, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %d: %w", e.GetSeq(), err)
		}
		if err := set(eventKey(e.GetSeq()), v); err != nil {
			return err
		}
	}
	for k, a := range u.Aggregates {
		if err := set(aggKey(k), a.Marshal()); err != nil {
			return err
		}
	}
	if err := set(metaKey('c'), binary.BigEndian.AppendUint64(nil, u.LastCallSeq)); err != nil {
		return err
	}
	if err := set(metaKey('e'), binary.BigEndian.AppendUint64(nil, u.LastEventSeq)); err != nil {
		return err
	}
	return txn.Commit()
}

// indexKeys are the secondary index entries of a call.
func indexKeys(c *telemetryv1.ToolCall, p recorder.Position) [][]byte {
	var keys [][]byte
	for _, ix := range []recorder.CallIndex{
		{Kind: recorder.CallsBySession, Value: c.GetSessionId()},
		{Kind: recorder.CallsByTool, Value: c.GetTool()},
		{Kind: recorder.CallsByCorrelation, Value: c.GetCorrelationId()},
	} {
		if ix.Value != "" {
			keys = append(keys, appendPosition(callIndexPrefix(ix.Kind, ix.Value), p))
		}
	}
	return keys
}

// DeleteCallsBefore deletes the oldest calls before cutoff, at most max of them, with their
// index entries, in one transaction. max is small enough (the recorder's retention chunk)
// for one transaction; a chunk that is not fails whole and deletes nothing.
func (s *Store) DeleteCallsBefore(before time.Time, max int) (deleted int, more bool, err error) {
	cutoff := before.UnixNano()
	if before.Before(time.Unix(0, 0)) || cutoff <= 0 {
		return 0, false, nil // no call is before 1970
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		var doomed [][]byte
		err := func() error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = []byte{prefixCall}
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				p := positionAt(item.Key())
				if p.TimeNanos >= cutoff {
					return nil
				}
				if deleted == max {
					more = true
					return nil
				}
				c, err := decodeCall(item)
				if err != nil {
					return err
				}
				doomed = append(doomed, item.KeyCopy(nil))
				doomed = append(doomed, indexKeys(c, p)...)
				deleted++
			}
			return nil
		}()
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return deleted, more, nil
}

// Sync makes the names of files the last commits created durable (each commit is synced
// as it is made; see platform/badgerdb).
func (s *Store) Sync() error { return s.db.Sync() }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func decodeCall(item *badger.Item) (*telemetryv1.ToolCall, error) {
	c := &telemetryv1.ToolCall{}
	if err := item.Value(func(v []byte) error { return proto.Unmarshal(v, c) }); err != nil {
		return nil, fmt.Errorf("stored call %x cannot be decoded: %w", item.Key(), err)
	}
	return c, nil
}

func decodeAggregate(item *badger.Item) (*aggregate.Aggregate, error) {
	var a *aggregate.Aggregate
	err := item.Value(func(v []byte) error {
		var err error
		a, err = aggregate.Decode(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stored aggregate %x: %w", item.Key(), err)
	}
	return a, nil
}
