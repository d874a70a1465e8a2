package badgerstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// reader implements sessions.Reader on a Badger transaction (a snapshot, or the writer's
// read-write transaction, whose own writes it sees).
type reader struct {
	txn *badger.Txn
}

// get returns the value of key, or nil when it is absent.
func (r *reader) get(key []byte, decode func([]byte) error) (bool, error) {
	item, err := r.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(decode)
}

func (r *reader) Session(id string) (*sessions.Record, error) {
	var rec *sessions.Record
	_, err := r.get(metaKey(id), func(b []byte) (err error) {
		rec, err = decodeRecord(b)
		return err
	})
	return rec, err
}

func (r *reader) Value(id string, gen uint32, key string) (*sessions.Value, error) {
	var v *sessions.Value
	_, err := r.get(valueKey(id, gen, key), func(b []byte) (err error) {
		v, err = decodeValue(b)
		return err
	})
	return v, err
}

func (r *reader) ValueVersion(id string, gen uint32, key string) (int64, bool, error) {
	var v int64
	found, err := r.get(valueKey(id, gen, key), func(b []byte) (err error) {
		v, err = valueVersion(b)
		return err
	})
	return v, found, err
}

// scan iterates the keys under prefix from start, calling fn with each item until it returns
// false or an error.
func (r *reader) scan(prefix, start []byte, values bool, fn func(*badger.Item) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = values
	if values {
		opts.PrefetchSize = 16
	}
	it := r.txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(start); it.Valid(); it.Next() {
		if more, err := fn(it.Item()); err != nil || !more {
			return err
		}
	}
	return nil
}

func (r *reader) Values(id string, gen uint32, prefix, after string, fn func(string, *sessions.Value) bool) error {
	base := genPrefix(id, gen)
	scope := append(append([]byte(nil), base...), prefix...)
	start := scope
	if after != "" {
		start = append(append(append([]byte(nil), base...), after...), 0) // the first key after `after`
	}
	return r.scan(scope, start, true, func(item *badger.Item) (bool, error) {
		key := string(item.Key()[len(base):])
		var v *sessions.Value
		err := item.Value(func(b []byte) (err error) {
			v, err = decodeValue(b)
			return err
		})
		if err != nil {
			return false, err
		}
		return fn(key, v), nil
	})
}

func (r *reader) History(id string, fn func(*sessionv1.Transition) bool) error {
	p := historyPrefix(id)
	return r.scan(p, p, true, func(item *badger.Item) (bool, error) {
		var t *sessionv1.Transition
		err := item.Value(func(b []byte) (err error) {
			t, err = decodeTransition(b)
			return err
		})
		if err != nil {
			return false, err
		}
		return fn(t), nil
	})
}

// Sessions visits one record per group: it reads the record by key, then seeks past the
// group, so the values and history of a session are never read.
func (r *reader) Sessions(after string, fn func(*sessions.Record) bool) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{prefixSession}
	opts.PrefetchValues = false
	it := r.txn.NewIterator(opts)
	defer it.Close()
	start := []byte{prefixSession}
	if after != "" {
		start = groupEnd(after)
	}
	for it.Seek(start); it.Valid(); {
		id, ok := idOfGroupKey(it.Item().Key())
		if !ok {
			return errors.New("session key without an id terminator")
		}
		rec, err := r.Session(id)
		if err != nil {
			return err
		}
		if rec != nil && !fn(rec) {
			return nil
		}
		it.Seek(groupEnd(id))
	}
	return nil
}

func (r *reader) Due(t time.Time, fn func(string) bool) error {
	limit := nanos(t)
	p := []byte{prefixDeadline}
	return r.scan(p, p, false, func(item *badger.Item) (bool, error) {
		key := item.Key()
		if len(key) < 9 {
			return false, errors.New("deadline index key too short")
		}
		if binary.BigEndian.Uint64(key[1:9]) > limit {
			return false, nil
		}
		return fn(string(key[9:])), nil
	})
}

func (r *reader) Purges(fn func(string) bool) error {
	p := []byte{prefixPurge}
	return r.scan(p, p, false, func(item *badger.Item) (bool, error) {
		return fn(string(item.Key()[1:])), nil
	})
}

// countSessions counts records, one seek per session.
func (r *reader) countSessions() (int, error) {
	n := 0
	err := r.Sessions("", func(*sessions.Record) bool { n++; return true })
	return n, err
}
