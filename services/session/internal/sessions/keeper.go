package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/platform/redact"
	"github.com/osirisplane/osiris/platform/writer"
)

// Keeper is the session service's domain. It owns its store from Open until Close.
type Keeper struct {
	cfg      Config
	store    Store
	q        *writer.Queue[op, outcome]
	renewals *renewals
	// redactor masks credentials in a closed session's error before it is stored.
	redactor *redact.Redactor

	// stored counts session records; owned by the writer goroutine, published for metrics.
	stored    int
	published atomic.Int64

	stopSweeper context.CancelFunc
	sweeperDone chan struct{}
}

// op is one item for the writer. apply runs on the writer goroutine; it returns a domain
// error (an apierr kind) for a refused item, which must then have changed nothing, and wraps
// store failures with fatal, which fail the whole batch.
type op interface {
	apply(k *Keeper, tx Tx, now time.Time) (outcome, error)
}

// outcome is what an op returns to its caller. Events are emitted once the op is durable.
type outcome struct {
	rec     *Record
	version int64
	removed uint64
	events  []Event
	sweep   SweepReport
}

type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }
func (f *fatalError) Unwrap() error { return f.err }

// fatal marks a store failure: the batch cannot be trusted and every item in it fails.
func fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err}
}

// Open counts the stored sessions, starts the writer and the sweeper.
func Open(store Store, cfg Config) (*Keeper, error) {
	cfg.fill()
	n, err := store.CountSessions()
	if err != nil {
		return nil, fmt.Errorf("count stored sessions: %w", err)
	}
	k := &Keeper{cfg: cfg, store: store, renewals: newRenewals(), redactor: redact.New(redact.SessionMask), stored: n, sweeperDone: make(chan struct{})}
	k.published.Store(int64(n))
	cfg.Queue.Sync = store.Sync
	k.q = writer.New(cfg.Queue, k.apply)
	ctx, cancel := context.WithCancel(context.Background())
	k.stopSweeper = cancel
	go k.runSweeper(ctx)
	return k, nil
}

// Close stops the sweeper, applies what is queued and closes the store.
func (k *Keeper) Close(ctx context.Context) error {
	k.stopSweeper()
	<-k.sweeperDone
	return errors.Join(k.q.Close(ctx), k.store.Close())
}

// QueueLen is how many items wait for the writer.
func (k *Keeper) QueueLen() int { return k.q.Len() }

// Stored is how many sessions are stored (open, or closed within retention).
func (k *Keeper) Stored() int64 { return k.published.Load() }

// submit runs o on the writer and emits its events once it is durable. Events of a refused
// op are emitted too: a refused create may have removed an expired session first.
func (k *Keeper) submit(ctx context.Context, o op) (outcome, error) {
	out, err := k.q.Submit(ctx, o)
	for _, e := range out.events {
		k.cfg.Events.Emit(e)
	}
	return out, err
}

func (k *Keeper) apply(batch []op) ([]writer.Result[outcome], error) {
	now := k.cfg.Now()
	results := make([]writer.Result[outcome], len(batch))
	err := k.store.Write(func(tx Tx) error {
		for i, o := range batch {
			if err := tx.Checkpoint(); err != nil {
				return err
			}
			out, err := o.apply(k, tx, now)
			var f *fatalError
			if errors.As(err, &f) {
				return f.err
			}
			results[i] = writer.Result[outcome]{Value: out, Err: err}
		}
		return nil
	})
	if err != nil {
		// Part of the batch may be committed: take the count from the store, not from memory.
		if n, cerr := k.store.CountSessions(); cerr == nil {
			k.stored = n
		} else {
			err = errors.Join(err, cerr)
		}
		k.published.Store(int64(k.stored))
		return nil, err
	}
	k.published.Store(int64(k.stored))
	return results, nil
}

// deadline is when rec dies: for an open session the idle TTL from its last use (stored, or
// noted by a read since) or the absolute TTL, whichever comes first; for a closed one the end
// of its retention.
func (k *Keeper) deadline(rec *Record) time.Time {
	if !rec.Open() {
		return rec.Deadline
	}
	last := rec.LastUsedAt
	if t, ok := k.renewals.get(rec.ID); ok && t.After(last) {
		last = t
	}
	return openDeadline(rec.CreatedAt, last, rec.IdleTTL, rec.MaxTTL)
}

func openDeadline(created, lastUsed time.Time, idle, maxTTL time.Duration) time.Time {
	d := lastUsed.Add(idle)
	if hard := created.Add(maxTTL); hard.Before(d) {
		return hard
	}
	return d
}

func (k *Keeper) live(rec *Record, now time.Time) bool {
	return rec != nil && now.Before(k.deadline(rec))
}

func notFound(id string) error {
	return apierr.NotFound("session %q not found (never created, expired or deleted)", id)
}

// lookup returns the live session id, or NotFound.
func (k *Keeper) lookup(r Reader, id string, now time.Time) (*Record, error) {
	rec, err := r.Session(id)
	if err != nil {
		return nil, fatal(err)
	}
	if !k.live(rec, now) {
		return nil, notFound(id)
	}
	return rec, nil
}

// lookupOpen returns the live, open session id; a closed one is FailedPrecondition.
func (k *Keeper) lookupOpen(r Reader, id string, now time.Time) (*Record, error) {
	rec, err := k.lookup(r, id, now)
	if err != nil {
		return nil, err
	}
	if !rec.Open() {
		return nil, apierr.FailedPrecondition("session %q was closed at %s; a closed session is read-only",
			id, rec.ClosedAt.UTC().Format(time.RFC3339Nano))
	}
	return rec, nil
}

// used moves rec's last use to now and its deadline with it; a change of content also moves
// updated_at and the version.
func (k *Keeper) used(rec *Record, now time.Time, changed bool) {
	if now.After(rec.LastUsedAt) {
		rec.LastUsedAt = now
	}
	if changed {
		rec.UpdatedAt = now
		rec.Version++
	}
	setDeadline(rec, openDeadline(rec.CreatedAt, rec.LastUsedAt, rec.IdleTTL, rec.MaxTTL), false)
}

// indexSlack is how far a session's indexed deadline may trail its real one (Record.Indexed).
const indexSlack = time.Minute

// setDeadline sets rec's deadline and moves its index entry when it must (the deadline came
// earlier), when it trails by indexSlack, or when force says so.
func setDeadline(rec *Record, d time.Time, force bool) {
	rec.Deadline = d
	if force || rec.Indexed.IsZero() || d.Before(rec.Indexed) || d.Sub(rec.Indexed) >= indexSlack {
		rec.Indexed = d
	}
}

// remove deletes rec with everything it owns (the store purges its keys in chunks) and
// reports an open session's end.
func (k *Keeper) remove(tx Tx, rec *Record, now time.Time, why string) ([]Event, error) {
	if err := tx.RemoveSession(rec); err != nil {
		return nil, fatal(err)
	}
	k.stored--
	k.renewals.drop(rec.ID)
	if !rec.Open() {
		return nil, nil // its end was reported when it closed
	}
	return []Event{closedEvent(rec, now, why)}, nil
}
