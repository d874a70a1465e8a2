package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// Store is what the ledger needs from storage. The single writer, the tree and the checkpoints'
// signing live in the ledger, above this interface, so another backend only has to store and
// scan entries in sequence order and return node hashes.
type Store interface {
	// Append commits entries that are already numbered and hashed, in order; later reads see
	// them. On error some prefix may have been committed; an entry is committed whole.
	Append(entries []Entry) error
	// Sync makes everything committed so far durable.
	Sync() error
	// Last returns the event with the highest seq, or nil for an empty log.
	Last() (*auditv1.Event, error)
	// Get returns one event, or an error wrapping ErrNoEvent.
	Get(seq uint64) (*auditv1.Event, error)
	// Scan calls fn, in ascending seq order, for each event with seq > after that idx selects,
	// from one consistent snapshot, until fn returns false or an error. An event that cannot be
	// decoded is reported as a *CorruptError.
	Scan(ctx context.Context, idx Index, after uint64, fn func(*auditv1.Event) (bool, error)) error
	// Nodes returns the stored hashes of perfect subtrees of the tree, from one snapshot, in
	// the order asked (see logtree: a node is stored with the leaf that completes it). A node
	// that is not stored is an error wrapping ErrNoEvent.
	Nodes(ids []compact.NodeID) ([][]byte, error)
	// PutCheckpoint stores a signed checkpoint of the tree of size leaves, durably.
	PutCheckpoint(size uint64, note []byte) error
	// Checkpoint returns the checkpoint stored for exactly size leaves, or an error wrapping
	// ErrNoCheckpoint.
	Checkpoint(size uint64) ([]byte, error)
	// LastCheckpoint returns the checkpoint of the largest size, or size 0 and nil when none is.
	LastCheckpoint() (uint64, []byte, error)
	Close() error
}

// Entry is one event as the writer commits it: the event (numbered, dated, its Hash the leaf
// hash) and the hashes of the perfect subtrees its leaf completes, Nodes[k-1] at level k.
type Entry struct {
	Event *auditv1.Event
	Nodes [][]byte
}

// IndexKind names a secondary index.
type IndexKind byte

// The indexes a store keeps; IndexAll is the log itself.
const (
	IndexAll IndexKind = iota
	IndexSession
	IndexCorrelation
	IndexTool
)

// Index selects the events whose field of the given kind equals Value.
type Index struct {
	Kind  IndexKind
	Value string
}

// ErrNoEvent is wrapped by Store.Get for a sequence number that is not stored.
var ErrNoEvent = errors.New("no such event")

// ErrNoCheckpoint is wrapped by Store.Checkpoint for a size no checkpoint was made at.
var ErrNoCheckpoint = errors.New("no checkpoint at that size")

// CorruptError reports a stored event that cannot be decoded.
type CorruptError struct {
	Seq uint64
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("stored event %d cannot be decoded: %v", e.Seq, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Legacy is implemented by a store that may hold a log written by a release before the tree
// (format 1: events hash-chained, no tree). The ledger migrates it once at Open: it verifies
// the old chain whole, then rewrites every event as an Entry, then drops the old events.
type Legacy interface {
	// LegacyEvents is how many format-1 events the store holds (0 when none or migrated).
	LegacyEvents() (uint64, error)
	// ScanLegacy calls fn for each format-1 event in seq order, from one snapshot.
	ScanLegacy(ctx context.Context, fn func(*auditv1.Event) error) error
	// FinishMigration marks the store as migrated (in the same commit as nothing else) and then
	// deletes the format-1 events. After a crash between the two, LegacyEvents is 0 and the
	// leftover old events are deleted at the next Open.
	FinishMigration() error
}
