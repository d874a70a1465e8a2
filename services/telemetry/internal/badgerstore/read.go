package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// ScanCalls walks the calls, or one index of them, after a position, from one snapshot.
func (s *Store) ScanCalls(ctx context.Context, idx recorder.CallIndex, from recorder.Position, fn func(*telemetryv1.ToolCall) (bool, error)) error {
	prefix := []byte{prefixCall}
	if idx.Kind != recorder.CallsAll {
		prefix = callIndexPrefix(idx.Kind, idx.Value)
	}
	start := appendPosition(bytes.Clone(prefix), recorder.Position{TimeNanos: from.TimeNanos, Seq: from.Seq + 1})
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		opts.PrefetchValues = idx.Kind == recorder.CallsAll // index entries are keys only
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if idx.Kind != recorder.CallsAll {
				p := positionAt(item.Key())
				var err error
				if item, err = txn.Get(CallKey(p)); err != nil {
					return fmt.Errorf("index names call %d at %d: %w", p.Seq, p.TimeNanos, err)
				}
			}
			c, err := decodeCall(item)
			if err != nil {
				return err
			}
			if more, err := fn(c); err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// ScanEvents walks the server events after a seq.
func (s *Store) ScanEvents(ctx context.Context, after uint64, fn func(*telemetryv1.ServerEvent) (bool, error)) error {
	return s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixEvent}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(eventKey(after + 1)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := &telemetryv1.ServerEvent{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, e) }); err != nil {
				return fmt.Errorf("stored event %x cannot be decoded: %w", it.Item().Key(), err)
			}
			if more, err := fn(e); err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// ScanAggregates reports the per-tool aggregates q selects, from one snapshot.
func (s *Store) ScanAggregates(ctx context.Context, q recorder.AggQuery, fn func(string, *aggregate.Aggregate) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		if q.Ranges == nil {
			return scanTotals(ctx, txn, q, fn)
		}
		for _, r := range q.Ranges {
			if err := scanBuckets(ctx, txn, q, r, fn); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanTotals reports the all-time aggregates of every tool, or of one, overall or in a session.
func scanTotals(ctx context.Context, txn *badger.Txn, q recorder.AggQuery, fn func(string, *aggregate.Aggregate) error) error {
	prefix := []byte{prefixAggregate, aggTool}
	if q.Session != "" {
		prefix = sessionToolsPrefix(q.Session)
	}
	if q.Tool != "" {
		item, err := txn.Get(appendString(prefix, q.Tool))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		a, err := decodeAggregate(item)
		if err != nil {
			return err
		}
		return fn(q.Tool, a)
	}
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		tool, rest, ok := readString(it.Item().Key()[len(prefix):])
		if !ok || len(rest) != 0 {
			return fmt.Errorf("malformed aggregate key %x", it.Item().Key())
		}
		a, err := decodeAggregate(it.Item())
		if err != nil {
			return err
		}
		if err := fn(tool, a); err != nil {
			return err
		}
	}
	return nil
}

// scanBuckets reports the bucket aggregates of one level whose start is in [r.From, r.To).
func scanBuckets(ctx context.Context, txn *badger.Txn, q recorder.AggQuery, r recorder.BucketRange, fn func(string, *aggregate.Aggregate) error) error {
	prefix := windowPrefix(q.Session, r.Level)
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = q.Tool == "" // with a tool filter, most values are skipped
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(r.From))); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := it.Item().Key()[len(prefix):]
		if len(key) < 8 {
			return fmt.Errorf("malformed bucket key %x", it.Item().Key())
		}
		if int64(binary.BigEndian.Uint64(key)) >= r.To {
			return nil
		}
		tool, rest, ok := readString(key[8:])
		if !ok || len(rest) != 0 {
			return fmt.Errorf("malformed bucket key %x", it.Item().Key())
		}
		if q.Tool != "" && tool != q.Tool {
			continue
		}
		a, err := decodeAggregate(it.Item())
		if err != nil {
			return err
		}
		if err := fn(tool, a); err != nil {
			return err
		}
	}
	return nil
}
