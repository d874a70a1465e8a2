package recorder

import (
	"context"
	"errors"
	"time"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
)

// Store is what the recorder needs from storage. The single writer, the sequence numbers and
// the read-modify-write of the aggregates live in the recorder, above this interface, so
// another backend only has to keep records, events and aggregates under their keys and commit
// a Unit atomically.
type Store interface {
	// LastSeqs returns the highest call and event seq ever committed (0, 0 when empty).
	LastSeqs() (calls, events uint64, err error)
	// Aggregates returns the stored aggregates of keys; keys never written are absent.
	Aggregates(keys []AggKey) (map[AggKey]*aggregate.Aggregate, error)
	// Correlations returns the calls recorded under any of ids that the store still remembers
	// (for Unit.DedupeFor after their commit); ids not remembered are absent. Duplicate is
	// false in what it returns.
	Correlations(ids []string) (map[string]Recorded, error)
	// Commit writes u all at once or not at all. A unit that does not fit in one transaction
	// fails with an error wrapping ErrTooBig and writes nothing. Sync makes it durable.
	Commit(u *Unit) error
	// DeleteCallsBefore deletes, in one transaction, up to max calls whose time is before
	// cutoff, oldest first, with their index entries. more says older calls remain.
	DeleteCallsBefore(cutoff time.Time, max int) (deleted int, more bool, err error)
	// DeleteAggregatesBefore deletes, in one transaction, up to max aggregates that retention
	// drops: the time buckets (per tool, per session and tool) that end at or before cutoff
	// (minutes since the Unix epoch), and the per-session totals of sessions left with no
	// bucket. more says some remain.
	DeleteAggregatesBefore(cutoff int64, max int) (deleted int, more bool, err error)
	// ScanCalls calls fn, in (time, seq) order, for each call idx selects that comes after
	// position from, from one snapshot, until fn returns false or an error.
	ScanCalls(ctx context.Context, idx CallIndex, from Position, fn func(*telemetryv1.ToolCall) (bool, error)) error
	// ScanEvents calls fn, in seq order, for each server event with seq > after.
	ScanEvents(ctx context.Context, after uint64, fn func(*telemetryv1.ServerEvent) (bool, error)) error
	// ScanAggregates calls fn for each per-tool aggregate that q selects, from one snapshot.
	// A tool may be reported several times (once per bucket of a window).
	ScanAggregates(ctx context.Context, q AggQuery, fn func(tool string, a *aggregate.Aggregate) error) error
	// Sync makes every commit so far durable.
	Sync() error
	Close() error
}

// ErrTooBig is wrapped by Store.Commit for a unit larger than one transaction may be.
var ErrTooBig = errors.New("unit too big for one transaction")

// Unit is one atomic commit: new calls and events, the aggregates they changed (whole, as
// they are to be stored), and the last seqs given out.
type Unit struct {
	Calls        []*telemetryv1.ToolCall
	Events       []*telemetryv1.ServerEvent
	Aggregates   map[AggKey]*aggregate.Aggregate
	LastCallSeq  uint64
	LastEventSeq uint64
	// DedupeFor is how long the store remembers the non-empty correlation ids of Calls, with
	// each call's seq and time, for Correlations; the memory is written in the same commit.
	DedupeFor time.Duration
}

// AggKind says which calls an aggregate counts.
type AggKind byte

// The aggregates kept for every call. Window aggregates exist per Level.
const (
	AggGlobal            AggKind = iota + 1 // all calls
	AggTool                                 // calls of Tool
	AggSessionTool                          // calls of Tool in Session
	AggWindowTool                           // calls of Tool in one bucket
	AggWindowSessionTool                    // calls of Tool in Session in one minute
)

// AggKey names one aggregate. Fields a kind does not use are zero.
type AggKey struct {
	Kind    AggKind
	Session string
	Tool    string
	Level   Level
	Start   int64 // bucket start, in minutes since the Unix epoch
}

// AggQuery selects per-tool aggregates: those of Session ("" for all sessions), of Tool (""
// for every tool), and either the all-time totals (Ranges nil) or the buckets of Ranges.
type AggQuery struct {
	Session string
	Tool    string
	Ranges  []BucketRange
}

// CallIndexKind names the index a call scan walks.
type CallIndexKind byte

// The indexes of calls; CallsAll is the calls themselves in time order.
const (
	CallsAll CallIndexKind = iota
	CallsBySession
	CallsByTool
	CallsByCorrelation
)

// CallIndex selects the calls whose field of the given kind equals Value.
type CallIndex struct {
	Kind  CallIndexKind
	Value string
}

// Position is a place in time order: calls are ordered by time (Unix nanoseconds), then seq.
type Position struct {
	TimeNanos int64
	Seq       uint64
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool {
	return p.TimeNanos < q.TimeNanos || (p.TimeNanos == q.TimeNanos && p.Seq < q.Seq)
}

// PositionOf is the position of a stored call.
func PositionOf(c *telemetryv1.ToolCall) Position {
	return Position{TimeNanos: c.GetTime().AsTime().UnixNano(), Seq: c.GetSeq()}
}
