// Package ledger is the audit log's domain: it validates and redacts events, numbers them and
// grows the Merkle tree over them in its single writer, signs checkpoints of the tree, and
// answers reads and proofs from store snapshots.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/platform/hwclock"
	"github.com/osirisplane/osiris/platform/redact"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
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
	// Signer signs checkpoints; its name is the log's origin. Required.
	Signer note.Signer
	// VerifierKey is Signer's signed-note verifier key ("name+hash+key"), given to clients and
	// used to check stored and published checkpoints. Required.
	VerifierKey string
	// CheckpointInterval is the least time between two checkpoints (DefaultCheckpointInterval
	// when zero). A checkpoint is made only when the tree grew.
	CheckpointInterval time.Duration
	// CheckpointDir, when set, receives every new checkpoint as the file "checkpoint", outside
	// the store; Open refuses a store that is not consistent with the one found there.
	CheckpointDir string
	// Log receives what the background checkpointer cannot return.
	Log *slog.Logger
}

// DefaultCheckpointInterval is how often a growing log is checkpointed.
const DefaultCheckpointInterval = time.Second

// Receipt acknowledges a durable append: the event's seq and its leaf hash.
type Receipt struct {
	Seq  uint64
	Hash []byte
}

// Ledger is the audit log. It owns its store from Open until Close.
type Ledger struct {
	store    Store
	q        *writer.Queue[item, []Receipt]
	redactor *redact.Redactor
	maxArgs  int
	clock    *hwclock.Clock

	// Owned by the writer goroutine (and Open, before it starts): the last event, and the
	// compact range of the whole tree, which apply grows.
	head head
	tree *compact.Range

	checkpoints checkpointer
	// The last committed seq, for the syncer: what it syncs becomes durable.
	committed atomic.Uint64

	integrity integrity

	// Published for readers: the last durable seq, and a channel closed when it advances.
	// Readers never see past it, so nothing a reader saw can vanish in a power loss.
	watch watch
}

// item is one writer request: the events of one Append or AppendBatch, or a signed checkpoint
// to store. Checkpoints go through the writer too, so that every commit to the store is the
// writer's: a commit from another goroutine may rotate Badger's WAL while the writer syncs,
// and the new WAL's name could then be made durable before its size (the power-loss test
// found a store that would not reopen).
type item struct {
	events     []*auditv1.Event
	checkpoint *Checkpoint
}

type head struct {
	seq  uint64
	time time.Time
}

// Open migrates a log written before the tree, reads the head and the tree from store, checks
// them against the newest checkpoints (refusing a store rolled back or rewritten behind the
// checkpoint in CheckpointDir), and starts the writer and the checkpointer.
func Open(store Store, cfg Config) (*Ledger, error) {
	if cfg.MaxArgumentsBytes <= 0 {
		cfg.MaxArgumentsBytes = DefaultMaxArgumentsBytes
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.Signer == nil || cfg.VerifierKey == "" {
		return nil, errors.New("ledger: a checkpoint signer and its verifier key are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	l := &Ledger{
		store:    store,
		redactor: redact.New(redact.AuditMask),
		maxArgs:  cfg.MaxArgumentsBytes,
		watch:    watch{ch: make(chan struct{})},
	}
	l.integrity.onChange = cfg.OnHealth
	if err := l.migrate(context.Background(), cfg.Log); err != nil {
		return nil, err
	}
	if err := l.loadHead(); err != nil {
		return nil, err
	}
	l.clock = hwclock.New(cfg.Now, cfg.Elapsed, l.head.time)
	l.watch.seq = l.head.seq
	l.committed.Store(l.head.seq)
	if err := l.openCheckpoints(cfg); err != nil {
		return nil, err
	}
	l.checkTail(context.Background())
	cfg.Queue.Sync = l.sync
	l.q = writer.New(cfg.Queue, l.apply)
	l.checkpoints.start(l, cfg.CheckpointInterval)
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

// loadHead reads the last event and the tree's compact range at its size.
func (l *Ledger) loadHead() error {
	last, err := l.store.Last()
	if err != nil {
		return fmt.Errorf("read the log's head: %w", err)
	}
	l.head = head{}
	if last != nil {
		l.head = head{seq: last.GetSeq(), time: last.GetTime().AsTime()}
	}
	if l.tree, err = logtree.Range(l.head.seq, l.store.Nodes); err != nil {
		return fmt.Errorf("read the tree at size %d: %w", l.head.seq, err)
	}
	return nil
}

// Close stops intake, appends what is queued, checkpoints the whole log, and closes the store.
func (l *Ledger) Close(ctx context.Context) error {
	err := l.q.Close(ctx)
	return errors.Join(err, l.checkpoints.close(l), l.store.Close())
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

// Append validates and redacts e, then waits until it is numbered, in the tree and synced.
// Only the fields a client may set are taken from e; e itself is not modified.
func (l *Ledger) Append(ctx context.Context, e *auditv1.Event) (Receipt, error) {
	if err := validateEvent("event", e, l.maxArgs); err != nil {
		return Receipt{}, err
	}
	r, err := l.q.Submit(ctx, item{events: []*auditv1.Event{l.redacted(e)}})
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
	redacted := make([]*auditv1.Event, len(events))
	for i, e := range events {
		if err := validateEvent(fmt.Sprintf("events[%d]", i), e, l.maxArgs); err != nil {
			return nil, apierr.AtField(fmt.Sprintf("events[%d]", i), err) // the client drops that one
		}
		redacted[i] = l.redacted(e)
	}
	return l.q.Submit(ctx, item{events: redacted})
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

// apply runs on the writer goroutine: it numbers, timestamps and hashes the batch, grows the
// tree by its leaves, commits events and tree nodes in one write, and only then moves the head.
// The writer acknowledges after the next sync. An item (one Append or AppendBatch) is in the
// tree whole or not at all.
func (l *Ledger) apply(batch []item) ([]writer.Result[[]Receipt], error) {
	now := l.clock.Now() // never before the head's time: the clock starts there
	ts := timestamppb.New(now)
	results := make([]writer.Result[[]Receipt], len(batch))
	var entries []Entry
	seq := l.head.seq
	for i, it := range batch {
		if it.checkpoint != nil {
			continue // stored below, after the events
		}
		item := it.events
		receipts, err := hashItem(item, seq, ts)
		if err != nil {
			results[i].Err = apierr.Invalid("event cannot be encoded: %v", err)
			continue
		}
		for _, e := range item {
			en, err := l.grow(e)
			if err != nil {
				return nil, l.reload(err) // the range is corrupt: nothing of this batch is stored
			}
			entries = append(entries, en)
		}
		seq += uint64(len(item))
		results[i].Value = receipts
	}
	if len(entries) > 0 {
		if err := l.store.Append(entries); err != nil {
			return nil, l.reload(err)
		}
		l.head = head{seq: seq, time: now}
		l.committed.Store(seq)
	}
	for i, it := range batch {
		if it.checkpoint != nil {
			results[i].Err = l.store.PutCheckpoint(it.checkpoint.Size, it.checkpoint.Note)
		}
	}
	return results, nil
}

// grow appends e's leaf to the tree and returns e with the nodes its leaf completes.
func (l *Ledger) grow(e *auditv1.Event) (Entry, error) {
	en := Entry{Event: e}
	err := l.tree.Append(e.GetHash(), func(id compact.NodeID, h []byte) {
		if id.Level > 0 {
			en.Nodes = append(en.Nodes, h)
		}
	})
	return en, err
}

// reload takes the head and the tree from the store after a failed write, part of which may be
// on disk: memory must not run ahead of (or behind) what is stored.
func (l *Ledger) reload(err error) error {
	if herr := l.loadHead(); herr != nil {
		err = errors.Join(err, herr)
	}
	l.committed.Store(l.head.seq)
	return err
}

// hashItem numbers and dates the events of one item after seq and sets each one's leaf hash.
func hashItem(item []*auditv1.Event, seq uint64, ts *timestamppb.Timestamp) ([]Receipt, error) {
	receipts := make([]Receipt, len(item))
	for j, e := range item {
		e.Seq, e.Time = seq+uint64(j)+1, ts
		h, err := leaf.Hash(e)
		if err != nil {
			return nil, err
		}
		e.Hash = h
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
