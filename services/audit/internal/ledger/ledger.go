// Package ledger is the audit log's domain: it validates and redacts events, numbers and
// chains them in its single writer, and answers reads from store snapshots.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/platform/hwclock"
	"github.com/osirisplane/osiris/platform/redact"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/audit/internal/chain"
)

// DefaultMaxArgumentsBytes bounds the encoded size of an event's arguments.
const DefaultMaxArgumentsBytes = 1 << 20

// MaxBatchEvents bounds the events of one AppendBatch.
const MaxBatchEvents = 1000

// Config tunes a Ledger; the zero value gives the defaults.
type Config struct {
	// MaxArgumentsBytes bounds the protobuf size of an event's arguments.
	MaxArgumentsBytes int
	// Queue bounds the writer queue.
	Queue writer.Config
	// Now is the wall clock and Elapsed the monotonic one; the process's clocks when nil.
	// Event times come from platform/hwclock floored by the last event's time, so they never
	// go backwards along the log and ignore the wall clock's steps.
	Now     func() time.Time
	Elapsed func() time.Duration
	// OnHealth, when set, is told each integrity check's outcome (nil when the log is intact):
	// the service reports not ready while the log is corrupt.
	OnHealth func(error)
}

// Receipt acknowledges a durable append.
type Receipt struct {
	Seq  uint64
	Hash []byte
}

// Ledger is the audit log. It owns its store from Open until Close.
type Ledger struct {
	store    Store
	q        *writer.Queue[[]*auditv1.Event, []Receipt] // an item is one Append or AppendBatch
	redactor *redact.Redactor
	maxArgs  int
	clock    *hwclock.Clock

	// Owned by the writer goroutine (and Open, before it starts).
	head head
	// The last committed seq, for the syncer: what it syncs becomes durable.
	committed atomic.Uint64

	integrity integrity

	// Published for readers: the last durable seq, and a channel closed when it advances.
	// Readers never see past it, so nothing a reader saw can vanish in a power loss.
	watch watch
}

type head struct {
	seq  uint64
	hash []byte
	time time.Time
}

// Open reads the chain head from store and starts the writer.
func Open(store Store, cfg Config) (*Ledger, error) {
	if cfg.MaxArgumentsBytes <= 0 {
		cfg.MaxArgumentsBytes = DefaultMaxArgumentsBytes
	}
	l := &Ledger{
		store:    store,
		redactor: redact.New(redact.AuditMask),
		maxArgs:  cfg.MaxArgumentsBytes,
		watch:    watch{ch: make(chan struct{})},
	}
	l.integrity.onChange = cfg.OnHealth
	if err := l.loadHead(); err != nil {
		return nil, err
	}
	l.clock = hwclock.New(cfg.Now, cfg.Elapsed, l.head.time)
	l.checkTail(context.Background())
	l.watch.seq = l.head.seq
	l.committed.Store(l.head.seq)
	cfg.Queue.Sync = l.sync
	l.q = writer.New(cfg.Queue, l.apply)
	return l, nil
}

// sync runs on the writer after each batch: everything committed before it is durable after it.
func (l *Ledger) sync() error {
	seq := l.committed.Load()
	if err := l.store.Sync(); err != nil {
		return err
	}
	l.watch.advance(seq)
	return nil
}

func (l *Ledger) loadHead() error {
	last, err := l.store.Last()
	if err != nil {
		return fmt.Errorf("read chain head: %w", err)
	}
	l.head = head{hash: chain.Genesis()}
	if last != nil {
		l.head = head{seq: last.GetSeq(), hash: last.GetHash(), time: last.GetTime().AsTime()}
	}
	return nil
}

// Close stops intake, appends what is queued, and closes the store.
func (l *Ledger) Close(ctx context.Context) error {
	return errors.Join(l.q.Close(ctx), l.store.Close())
}

// Clock is the clock that dates events.
func (l *Ledger) Clock() *hwclock.Clock { return l.clock }

// QueueLen is how many appends wait for the writer.
func (l *Ledger) QueueLen() int { return l.q.Len() }

// Head is the sequence number of the last durable event.
func (l *Ledger) Head() uint64 {
	seq, _ := l.watch.current()
	return seq
}

// Append validates and redacts e, then waits until it is numbered, chained and synced.
// Only the fields a client may set are taken from e; e itself is not modified.
func (l *Ledger) Append(ctx context.Context, e *auditv1.Event) (Receipt, error) {
	if err := validateEvent("event", e, l.maxArgs); err != nil {
		return Receipt{}, err
	}
	r, err := l.q.Submit(ctx, []*auditv1.Event{l.redacted(e)})
	if err != nil {
		return Receipt{}, err
	}
	return r[0], nil
}

// AppendBatch appends events as Append appends one, as one writer item: all are validated
// first (an invalid one refuses the batch, naming its index), then they get consecutive
// sequence numbers in one commit. It returns one receipt per event, in order.
func (l *Ledger) AppendBatch(ctx context.Context, events []*auditv1.Event) ([]Receipt, error) {
	switch {
	case len(events) == 0:
		return nil, apierr.Invalid("events is empty; send at least one event")
	case len(events) > MaxBatchEvents:
		return nil, apierr.Invalid("events holds %d events, over the limit of %d per request", len(events), MaxBatchEvents)
	}
	item := make([]*auditv1.Event, len(events))
	for i, e := range events {
		if err := validateEvent(fmt.Sprintf("events[%d]", i), e, l.maxArgs); err != nil {
			return nil, apierr.AtField(fmt.Sprintf("events[%d]", i), err) // the client drops that one
		}
		item[i] = l.redacted(e)
	}
	return l.q.Submit(ctx, item)
}

func (l *Ledger) redacted(e *auditv1.Event) *auditv1.Event {
	return &auditv1.Event{
		EventType:     e.GetEventType(),
		SessionId:     e.GetSessionId(),
		CorrelationId: e.GetCorrelationId(),
		Tool:          e.GetTool(),
		Arguments:     l.redactor.Struct(e.GetArguments()),
		BytesIn:       e.GetBytesIn(),
		BytesOut:      e.GetBytesOut(),
		DurationMs:    e.GetDurationMs(),
		ErrorCode:     l.redactor.String(e.GetErrorCode()),
		ErrorMessage:  l.redactor.String(e.GetErrorMessage()),
		ResourceUri:   l.redactor.String(e.GetResourceUri()),
		Operation:     e.GetOperation(),
	}
}

// apply runs on the writer goroutine: it numbers, timestamps and chains the batch, commits it
// in one write, and only then moves the head. The writer acknowledges after the next sync.
// An item (one Append or AppendBatch) is chained whole or not at all.
func (l *Ledger) apply(batch [][]*auditv1.Event) ([]writer.Result[[]Receipt], error) {
	now := l.clock.Now() // never before the head's time: the clock starts there
	ts := timestamppb.New(now)
	results := make([]writer.Result[[]Receipt], len(batch))
	var stored []*auditv1.Event
	seq, prev := l.head.seq, l.head.hash
	for i, item := range batch {
		receipts, err := chainItem(item, seq, prev, ts)
		if err != nil {
			results[i].Err = apierr.Invalid("event cannot be encoded: %v", err)
			continue
		}
		last := receipts[len(receipts)-1]
		seq, prev = last.Seq, last.Hash
		stored = append(stored, item...)
		results[i].Value = receipts
	}
	if len(stored) == 0 {
		return results, nil
	}
	if err := l.store.Append(stored); err != nil {
		// Part of the batch may be on disk: take the head from the store, not from memory.
		if herr := l.loadHead(); herr != nil {
			err = errors.Join(err, herr)
		}
		l.committed.Store(l.head.seq)
		return nil, err
	}
	l.head = head{seq: seq, hash: prev, time: now}
	l.committed.Store(seq)
	return results, nil
}

// chainItem numbers and chains the events of one item after (seq, prev).
func chainItem(item []*auditv1.Event, seq uint64, prev []byte, ts *timestamppb.Timestamp) ([]Receipt, error) {
	receipts := make([]Receipt, len(item))
	for j, e := range item {
		e.Seq, e.Time, e.PrevHash = seq+1, ts, prev
		h, err := chain.Digest(prev, e)
		if err != nil {
			return nil, err
		}
		e.Hash = h
		seq, prev = e.Seq, h
		receipts[j] = Receipt{Seq: e.Seq, Hash: h}
	}
	return receipts, nil
}

// Get returns one event.
func (l *Ledger) Get(_ context.Context, seq uint64) (*auditv1.Event, error) {
	if seq == 0 {
		return nil, apierr.Invalid("seq must be at least 1")
	}
	if seq > l.Head() {
		return nil, apierr.NotFound("no event with seq %d", seq)
	}
	e, err := l.store.Get(seq)
	if errors.Is(err, ErrNoEvent) {
		return nil, apierr.NotFound("no event with seq %d", seq)
	}
	return e, err
}

// watch publishes the durable head to readers that follow the log.
type watch struct {
	mu  sync.Mutex
	seq uint64
	ch  chan struct{}
}

func (w *watch) advance(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq == w.seq {
		return
	}
	w.seq = seq
	close(w.ch)
	w.ch = make(chan struct{})
}

// current returns the head and a channel that is closed when it next moves.
func (w *watch) current() (uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq, w.ch
}
