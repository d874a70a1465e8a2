// Package recorder is the telemetry service's domain. It validates, redacts and truncates
// tool calls and server events; its single writer numbers them and keeps the aggregates
// (global, per tool, per session and tool, and per time bucket) by read-modify-write, each
// writer batch in one atomic commit with the records it counts; it deletes old records; and
// it answers summaries and lists from store snapshots.
//
// Because the records and the aggregates that count them are committed together, the
// aggregates are exactly the sum of every record ever committed, and an acknowledged record
// is synced before its caller hears. Reads may see a commit whose sync is still under way
// (at most one group commit); a process kill cannot take it back, only a power loss can.
//
// A call is recorded at most once per correlation id: the writer remembers each non-empty id
// in the commit that records its call (for DedupeWindow) and skips a later call with the same
// id as a duplicate, so a sender may resend after a lost reply. A batch of calls
// (RecordBatch) is one writer item.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/redact"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
)

// Defaults of Config.
const (
	DefaultRetentionAge   = 30 * 24 * time.Hour
	DefaultRetentionChunk = 1000
	// DefaultCachedAggregates is how many aggregates the writer keeps decoded in memory.
	// Reading and decoding the aggregates a batch touches cost most of the writer's time; the
	// hot ones (global, busy tools, current buckets) stay cached. An aggregate takes about
	// 1 KiB, 16 KiB at most.
	DefaultCachedAggregates = 4096
)

// CallObserver hears of every acknowledged call, after it is durable (the service's
// OpenTelemetry instruments).
type CallObserver interface {
	Observe(c *telemetryv1.ToolCall)
}

// Config tunes a Recorder; zero fields take the defaults.
type Config struct {
	// Queue bounds the writer queue; its Sync is set by Open.
	Queue writer.Config
	// Now is the clock; time.Now when nil. It times calls sent without a time, bounds how far
	// ahead a caller's time may be, and decides which records retention deletes.
	Now func() time.Time
	// RetentionAge is how old a call record gets before retention deletes it.
	RetentionAge time.Duration
	// RetentionChunk is the most records one retention step deletes (one writer item, one
	// transaction), so retention never holds the writer for long.
	RetentionChunk int
	// Observer, when set, hears of every acknowledged call.
	Observer CallObserver
	// CachedAggregates bounds the writer's cache of decoded aggregates.
	CachedAggregates int
}

// Recorder is the telemetry store's domain. It owns its store from Open until Close.
type Recorder struct {
	store     Store
	q         *writer.Queue[item, outcome]
	redactor  *redact.Redactor
	now       func() time.Time
	retention time.Duration
	chunk     int
	observer  CallObserver

	// Owned by the writer goroutine (and Open, before it starts): the last seqs given out,
	// and the cache of aggregates, each exactly as committed.
	lastCall, lastEvent uint64
	cache               map[AggKey]*aggregate.Aggregate
	cacheMax            int
}

// item is one unit of work for the writer: exactly one field is set. A batch of calls is one
// item, so it costs one queue slot and its aggregate updates are merged with the others'.
type item struct {
	calls     []*telemetryv1.ToolCall // one (Record) or a batch (RecordBatch)
	event     *telemetryv1.ServerEvent
	retention bool
}

type outcome struct {
	calls      []Recorded       // per call of the item
	seq        uint64           // event
	totals     aggregate.Totals // global totals, for start and stop events
	deleted    int              // retention: call records
	aggregates int              // retention: aggregates
	more       bool             // retention: more remains to delete
}

// Recorded is what became of one call given to Record or RecordBatch.
type Recorded struct {
	Seq  uint64
	Time time.Time
	// Duplicate says a call with the same correlation id had been recorded already (within
	// DedupeWindow, or earlier in the same batch): this one was not stored or counted, and Seq
	// and Time are those of the recorded call.
	Duplicate bool
}

// Open reads the last seqs from store and starts the writer.
func Open(store Store, cfg Config) (*Recorder, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetentionAge <= 0 {
		cfg.RetentionAge = DefaultRetentionAge
	}
	if cfg.RetentionChunk <= 0 {
		cfg.RetentionChunk = DefaultRetentionChunk
	}
	if cfg.CachedAggregates <= 0 {
		cfg.CachedAggregates = DefaultCachedAggregates
	}
	r := &Recorder{
		store:     store,
		redactor:  redact.New(redact.AuditMask),
		now:       cfg.Now,
		retention: cfg.RetentionAge,
		chunk:     cfg.RetentionChunk,
		observer:  cfg.Observer,
		cache:     make(map[AggKey]*aggregate.Aggregate, cfg.CachedAggregates),
		cacheMax:  cfg.CachedAggregates,
	}
	var err error
	if r.lastCall, r.lastEvent, err = store.LastSeqs(); err != nil {
		return nil, err
	}
	cfg.Queue.Sync = store.Sync
	r.q = writer.New(cfg.Queue, r.apply)
	return r, nil
}

// Close stops intake, commits what is queued, and closes the store.
func (r *Recorder) Close(ctx context.Context) error {
	return errors.Join(r.q.Close(ctx), r.store.Close())
}

// QueueLen is how many items wait for the writer.
func (r *Recorder) QueueLen() int { return r.q.Len() }

// Record validates c and waits until it is stored, counted and synced, or found to be a
// duplicate by its correlation id. c itself is not modified.
func (r *Recorder) Record(ctx context.Context, c *telemetryv1.ToolCall) (Recorded, error) {
	stored, err := r.prepare("call", c, r.now())
	if err != nil {
		return Recorded{}, err
	}
	out, err := r.q.Submit(ctx, item{calls: []*telemetryv1.ToolCall{stored}})
	if err != nil {
		return Recorded{}, err
	}
	r.observe(stored, out.calls[0])
	return out.calls[0], nil
}

// RecordBatch records calls as Record records one, all in one writer item: it validates
// every call first and refuses the whole batch, naming the index, if any is invalid; then it
// waits until every call is stored, counted and synced, or found to be a duplicate. The
// result holds one entry per call, in order. A batch too big for one transaction is committed
// in parts (each with the aggregates it changes); if a part fails, the error is returned and
// the other parts stay recorded, which a resend then skips as duplicates.
func (r *Recorder) RecordBatch(ctx context.Context, calls []*telemetryv1.ToolCall) ([]Recorded, error) {
	if err := validateBatch(calls); err != nil {
		return nil, err
	}
	now := r.now()
	stored := make([]*telemetryv1.ToolCall, len(calls))
	for i, c := range calls {
		var err error
		if stored[i], err = r.prepare(fmt.Sprintf("calls[%d]", i), c, now); err != nil {
			return nil, err
		}
	}
	out, err := r.q.Submit(ctx, item{calls: stored})
	if err != nil {
		return nil, err
	}
	for i, c := range stored {
		r.observe(c, out.calls[i])
	}
	return out.calls, nil
}

// prepare validates c (name is its path in the request) and returns the copy to store:
// redacted, truncated, timed.
func (r *Recorder) prepare(name string, c *telemetryv1.ToolCall, now time.Time) (*telemetryv1.ToolCall, error) {
	if err := validateCall(name, c, now); err != nil {
		return nil, err
	}
	// A copy of the fields a client may set; the redacted and truncated ones are new values.
	stored := &telemetryv1.ToolCall{
		SessionId: c.GetSessionId(), CorrelationId: c.GetCorrelationId(), Tool: c.GetTool(), Status: c.GetStatus(),
		DurationMs: c.GetDurationMs(), BytesIn: c.GetBytesIn(), BytesOut: c.GetBytesOut(),
		Error: r.redactor.String(c.GetError()), Time: c.GetTime(),
	}
	if stored.Time == nil {
		stored.Time = timestamppb.New(now)
	}
	var err error
	if stored.Metadata, err = Truncate(r.redactor.Value(c.GetMetadata())); err != nil {
		return nil, fmt.Errorf("%s.metadata: %w", name, err)
	}
	return stored, nil
}

// observe tells the observer of a call that was stored and counted, not of a duplicate.
func (r *Recorder) observe(c *telemetryv1.ToolCall, rec Recorded) {
	if r.observer != nil && !rec.Duplicate {
		r.observer.Observe(c)
	}
}

// RecordEvent validates e and waits until it is stored and synced. It returns the stored
// event, with the global totals for a start or a stop.
func (r *Recorder) RecordEvent(ctx context.Context, e *telemetryv1.ServerEvent) (*telemetryv1.ServerEvent, error) {
	now := r.now()
	if err := validateEvent(e, now); err != nil {
		return nil, err
	}
	stored := proto.Clone(e).(*telemetryv1.ServerEvent)
	if stored.Time == nil {
		stored.Time = timestamppb.New(now)
	}
	stored.Reason = r.redactor.String(stored.GetReason())
	var err error
	if stored.ClientInfo, err = Truncate(r.redactor.Value(stored.GetClientInfo())); err != nil {
		return nil, err
	}
	if stored.Metadata, err = Truncate(r.redactor.Value(stored.GetMetadata())); err != nil {
		return nil, err
	}
	if _, err := r.q.Submit(ctx, item{event: stored}); err != nil {
		return nil, err
	}
	return stored, nil
}

// Retain deletes every call record older than the retention age, one bounded chunk per
// writer item, and returns how many it deleted. Then it deletes the time buckets older than
// the retention age and the totals of sessions with no bucket left; the global and per-tool
// totals keep counting every call forever.
func (r *Recorder) Retain(ctx context.Context) (int, error) {
	total := 0
	for {
		out, err := r.q.Submit(ctx, item{retention: true})
		total += out.deleted
		if err != nil || !out.more {
			return total, err
		}
	}
}
