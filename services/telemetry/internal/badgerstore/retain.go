package badgerstore

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// DeleteAggregatesBefore deletes, in one transaction, up to max of the aggregates that
// retention drops: time buckets (per tool, and per session and tool) that end at or before
// cutoff (minutes since the Unix epoch), then the all-time totals of each session that has
// no bucket left. The global and per-tool totals are never deleted. Only keys are read, and
// the reads stop early where the key order allows: the buckets of one level sort by start,
// and a session's buckets by start too, so a session whose oldest bucket is live is skipped
// whole. A retention step costs about one seek per stored session plus the deleted keys.
func (s *Store) DeleteAggregatesBefore(cutoff int64, max int) (deleted int, more bool, err error) {
	d := &doomed{max: max}
	err = s.db.Update(func(txn *badger.Txn) error {
		for _, l := range []recorder.Level{recorder.LevelMinute, recorder.LevelHour, recorder.LevelDay} {
			if err := oldToolBuckets(txn, windowPrefix("", l), cutoff, d); err != nil || d.full {
				return d.delete(txn, err)
			}
		}
		live, err := oldSessionBuckets(txn, cutoff, d)
		if err != nil || d.full {
			return d.delete(txn, err)
		}
		return d.delete(txn, orphanSessionTotals(txn, live, d))
	})
	if err != nil {
		return 0, false, err
	}
	return len(d.keys), d.full, nil
}

// doomed collects the keys one step deletes, up to max; full says more remain.
type doomed struct {
	keys [][]byte
	max  int
	full bool
}

// add keeps key, or reports false (and full) when max keys are kept already.
func (d *doomed) add(key []byte) bool {
	if len(d.keys) == d.max {
		d.full = true
		return false
	}
	d.keys = append(d.keys, append([]byte(nil), key...))
	return true
}

func (d *doomed) delete(txn *badger.Txn, err error) error {
	if err != nil {
		return err
	}
	for _, k := range d.keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func keyIterator(txn *badger.Txn, prefix []byte) *badger.Iterator {
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.PrefetchValues = prefix, false
	return txn.NewIterator(opts)
}

// oldToolBuckets dooms the buckets under prefix (one level, all tools) that end by cutoff;
// they sort by start, so it stops at the first live one.
func oldToolBuckets(txn *badger.Txn, prefix []byte, cutoff int64, d *doomed) error {
	it := keyIterator(txn, prefix)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		key := it.Item().Key()
		end, ok := bucketEnd(key[2:])
		if !ok {
			return fmt.Errorf("stored aggregate key %x is malformed", key)
		}
		if end > cutoff || !d.add(key) {
			return nil
		}
	}
	return nil
}

// oldSessionBuckets dooms the per-session buckets that end by cutoff and returns the sessions
// that keep a bucket. A session's buckets sort by start: at its first live one, it seeks to
// the next session.
func oldSessionBuckets(txn *badger.Txn, cutoff int64, d *doomed) (map[string]bool, error) {
	live := map[string]bool{}
	it := keyIterator(txn, []byte{prefixAggregate, aggWindowSessionTool})
	defer it.Close()
	for it.Rewind(); it.Valid(); {
		key := it.Item().Key()
		session, rest, ok := readString(key[2:])
		end, ok2 := bucketEnd(rest)
		if !ok || !ok2 {
			return nil, fmt.Errorf("stored aggregate key %x is malformed", key)
		}
		if end > cutoff {
			live[session] = true
			it.Seek(append(appendString([]byte{prefixAggregate, aggWindowSessionTool}, session), 0xff))
			continue
		}
		if !d.add(key) {
			return nil, nil
		}
		it.Next()
	}
	return live, nil
}

// orphanSessionTotals dooms the all-time totals of the sessions not in live.
func orphanSessionTotals(txn *badger.Txn, live map[string]bool, d *doomed) error {
	it := keyIterator(txn, []byte{prefixAggregate, aggSessionTool})
	defer it.Close()
	for it.Rewind(); it.Valid(); {
		key := it.Item().Key()
		session, _, ok := readString(key[2:])
		if !ok {
			return fmt.Errorf("stored aggregate key %x is malformed", key)
		}
		if live[session] {
			it.Seek(append(sessionToolsPrefix(session), 0xff, 0xff, 0xff))
			continue
		}
		if !d.add(key) {
			return nil
		}
		it.Next()
	}
	return nil
}
