package badgerstore

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// DeleteAggregatesBefore deletes, in one transaction, up to max of the aggregates that
// retention drops: time buckets (per tool, and per session and tool) that end at or before
// cutoff (minutes since the Unix epoch), then the all-time totals of each session that has
// no bucket left. The global and per-tool totals are never deleted. Only keys are read.
func (s *Store) DeleteAggregatesBefore(cutoff int64, max int) (deleted int, more bool, err error) {
	err = s.db.Update(func(txn *badger.Txn) error {
		var doomed [][]byte
		finish := func(err error) error {
			if err := deleteAll(txn, doomed, err); err != nil {
				return err
			}
			deleted = len(doomed)
			return nil
		}
		full := func() bool {
			if len(doomed) == max {
				more = true
			}
			return more
		}
		// Buckets per tool: 'a' 'w' level start tool.
		err := scanKeys(txn, []byte{prefixAggregate, aggWindowTool}, func(key []byte) (bool, error) {
			end, ok := bucketEnd(key[2:])
			if !ok {
				return false, fmt.Errorf("stored aggregate key %x is malformed", key)
			}
			if end <= cutoff {
				if full() {
					return false, nil
				}
				doomed = append(doomed, append([]byte(nil), key...))
			}
			return true, nil
		})
		if err != nil || more {
			return finish(err)
		}
		// Buckets per session and tool: 'a' 'v' session level start tool.
		live := map[string]bool{}
		err = scanKeys(txn, []byte{prefixAggregate, aggWindowSessionTool}, func(key []byte) (bool, error) {
			session, rest, ok := readString(key[2:])
			end, ok2 := bucketEnd(rest)
			if !ok || !ok2 {
				return false, fmt.Errorf("stored aggregate key %x is malformed", key)
			}
			if end > cutoff {
				live[session] = true
				return true, nil
			}
			if full() {
				return false, nil
			}
			doomed = append(doomed, append([]byte(nil), key...))
			return true, nil
		})
		if err != nil || more {
			return finish(err)
		}
		// Totals per session and tool: 'a' 's' session tool, once the session has no bucket.
		err = scanKeys(txn, []byte{prefixAggregate, aggSessionTool}, func(key []byte) (bool, error) {
			session, _, ok := readString(key[2:])
			if !ok {
				return false, fmt.Errorf("stored aggregate key %x is malformed", key)
			}
			if live[session] {
				return true, nil
			}
			if full() {
				return false, nil
			}
			doomed = append(doomed, append([]byte(nil), key...))
			return true, nil
		})
		return finish(err)
	})
	if err != nil {
		return 0, false, err
	}
	return deleted, more, nil
}

// scanKeys calls fn with each key under prefix (valid only during the call) until it returns
// false or an error; values are not read.
func scanKeys(txn *badger.Txn, prefix []byte, fn func(key []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.PrefetchValues = prefix, false
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		ok, err := fn(it.Item().Key())
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

func deleteAll(txn *badger.Txn, keys [][]byte, err error) error {
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
