package ledger

import (
	"context"
	"errors"
	"fmt"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// Store is what the ledger needs from storage. The single writer and the hash chain live in
// the ledger, above this interface, so another backend (a replicated stream) only has to store
// and scan events in sequence order.
type Store interface {
	// Append commits events that are already numbered and chained, in order; later reads see
	// them. On error some prefix may have been committed.
	Append(events []*auditv1.Event) error
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
	Close() error
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

// CorruptError reports a stored event that cannot be decoded.
type CorruptError struct {
	Seq uint64
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("stored event %d cannot be decoded: %v", e.Seq, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }
