package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// dedupeValueBytes is the size of a remembered call: seq(8) time(8, Unix ns).
const dedupeValueBytes = 16

// dedupeKey is the key remembering a correlation id.
func dedupeKey(id string) []byte { return append([]byte{prefixDedupe}, id...) }

// dedupeEntry remembers c's correlation id for ttl. Badger drops the entry once it expires
// (reads stop seeing it at once; compaction reclaims the space), so the ids cost a day of
// keys, not the whole history.
func dedupeEntry(c *telemetryv1.ToolCall, ttl time.Duration) *badger.Entry {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, dedupeValueBytes), c.GetSeq())
	v = binary.BigEndian.AppendUint64(v, uint64(c.GetTime().AsTime().UnixNano()))
	return badger.NewEntry(dedupeKey(c.GetCorrelationId()), v).WithTTL(ttl)
}

// Correlations returns the remembered calls of ids, from one snapshot.
func (s *Store) Correlations(ids []string) (map[string]recorder.Recorded, error) {
	out := make(map[string]recorder.Recorded)
	err := s.db.View(func(txn *badger.Txn) error {
		for _, id := range ids {
			item, err := txn.Get(dedupeKey(id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error {
				if len(v) != dedupeValueBytes {
					return fmt.Errorf("remembered correlation id %q is %d bytes, want %d", id, len(v), dedupeValueBytes)
				}
				out[id] = recorder.Recorded{Seq: binary.BigEndian.Uint64(v), Time: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))).UTC()}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
