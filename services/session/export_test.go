package session

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// CountKeys counts the live keys in the running service's store that start with prefix (all
// keys for an empty prefix). Tests use it to prove that removing a session removes every key
// it owned.
func (s *Service) CountKeys(prefix []byte) (int, error) {
	n := 0
	err := s.lc.DB().View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// Keeper is the running service's domain object, for tests that drive thousands of sessions
// in process: without the gRPC hop they fit the time budget of a -race run.
func (s *Service) Keeper() *sessions.Keeper { return s.keeper }
