package sessions

import (
	"context"
	"maps"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"

	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/session/internal/chatstate"
)

// CreateRequest is a validated-on-entry CreateSession.
type CreateRequest struct {
	ID      string // empty: generate one
	Labels  map[string]string
	IdleTTL *durationpb.Duration
	MaxTTL  *durationpb.Duration
}

// Create starts a session in INIT.
func (k *Keeper) Create(ctx context.Context, req CreateRequest) (*Record, error) {
	if req.ID != "" {
		if err := checkID("id", req.ID); err != nil {
			return nil, err
		}
	}
	if err := checkLabels(req.Labels); err != nil {
		return nil, err
	}
	idle, err := ttl("idle_ttl", req.IdleTTL, k.cfg.DefaultIdleTTL, k.cfg.IdleTTLLimit)
	if err != nil {
		return nil, err
	}
	maxTTL, err := ttl("max_ttl", req.MaxTTL, k.cfg.DefaultMaxTTL, k.cfg.MaxTTLLimit)
	if err != nil {
		return nil, err
	}
	out, err := k.submit(ctx, &createOp{id: req.ID, labels: maps.Clone(req.Labels), idle: idle, maxTTL: maxTTL})
	return out.rec, err
}

type createOp struct {
	id           string
	labels       map[string]string
	idle, maxTTL time.Duration
}

func (o *createOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	var out outcome
	id := o.id
	for id == "" {
		id = newID(now)
		if rec, err := tx.Session(id); err != nil {
			return out, fatal(err)
		} else if rec != nil {
			id = "" // 2^-128; but never hand out an id twice
		}
	}
	old, err := tx.Session(id)
	if err != nil {
		return out, fatal(err)
	}
	if old != nil {
		if k.live(old, now) {
			return out, apierr.AlreadyExists("session %q already exists", id)
		}
		// Expired but not swept yet: it is gone for every caller already; finish the job.
		if out.events, err = k.remove(tx, old, now, OutcomeExpired); err != nil {
			return out, err
		}
	}
	if k.stored >= k.cfg.MaxSessions {
		// Expired sessions still hold slots until the sweeper runs; reclaim them first.
		report, err := k.expireDue(tx, now, sweepExpireChunk)
		if err != nil {
			return out, err
		}
		out.events = append(out.events, report.Events...)
		if k.stored >= k.cfg.MaxSessions {
			return out, apierr.Exhausted("%d sessions are stored (open, or closed within their retention), the limit is %d; close or delete sessions",
				k.stored, k.cfg.MaxSessions)
		}
	}
	// A session of the same id deleted earlier may still have keys waiting for the sweeper.
	for done := false; !done; {
		if err := tx.Flush(); err != nil {
			return out, fatal(err)
		}
		if _, done, err = tx.Purge(id, sweepPurgeChunk); err != nil {
			return out, fatal(err)
		}
	}
	rec := &Record{
		ID: id, State: chatstate.Init, Labels: o.labels,
		CreatedAt: now, UpdatedAt: now, LastUsedAt: now,
		IdleTTL: o.idle, MaxTTL: o.maxTTL, Version: 1,
		HistoryFirst: 1, HistoryNext: 1,
	}
	setDeadline(rec, openDeadline(now, now, o.idle, o.maxTTL), true)
	if err := tx.PutSession(nil, rec); err != nil {
		return out, fatal(err)
	}
	k.stored++
	out.rec = rec
	out.events = append(out.events, startedEvent(rec))
	return out, nil
}

// Touch renews an open session's idle TTL.
func (k *Keeper) Touch(ctx context.Context, id string) (*Record, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	out, err := k.submit(ctx, &touchOp{id: id})
	return out.rec, err
}

type touchOp struct{ id string }

func (o *touchOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	rec, err := k.lookupOpen(tx, o.id, now)
	if err != nil {
		return outcome{}, err
	}
	next := rec.clone()
	k.used(next, now, false)
	if err := tx.PutSession(rec, next); err != nil {
		return outcome{}, fatal(err)
	}
	return outcome{rec: next}, nil
}

// CloseSession ends an open session with an outcome: ok when errorType is empty.
func (k *Keeper) CloseSession(ctx context.Context, id, errorType, errorMessage string) (*Record, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	switch {
	case len(errorType) > MaxErrorTypeBytes:
		return nil, apierr.Invalid("error_type is %d bytes, over the limit of %d", len(errorType), MaxErrorTypeBytes)
	case len(errorMessage) > MaxErrorMsgBytes:
		return nil, apierr.Invalid("error_message is %d bytes, over the limit of %d", len(errorMessage), MaxErrorMsgBytes)
	case errorType == "" && errorMessage != "":
		return nil, apierr.Invalid("error_message is set without error_type; name the kind of error, or send neither for an ok outcome")
	}
	if err := checkControls("error_type", errorType, true); err != nil {
		return nil, err
	}
	if err := checkControls("error_message", errorMessage, false); err != nil {
		return nil, err
	}
	// The outcome is stored and read back for --closed-retention, so it is redacted first,
	// as the audit sink redacts the same fields (values and labels are the caller's own state).
	out, err := k.submit(ctx, &closeOp{id: id, errorType: k.redactor.String(errorType), errorMessage: k.redactor.String(errorMessage)})
	return out.rec, err
}

type closeOp struct{ id, errorType, errorMessage string }

func (o *closeOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	rec, err := k.lookupOpen(tx, o.id, now)
	if err != nil {
		return outcome{}, err
	}
	next := rec.clone()
	k.used(next, now, true)
	next.ClosedAt = now
	setDeadline(next, now.Add(k.cfg.ClosedRetention), false)
	next.Outcome, next.ErrorType, next.ErrorMessage = sessionv1.Outcome_OUTCOME_OK, "", ""
	why := OutcomeOK
	if o.errorType != "" {
		next.Outcome, next.ErrorType, next.ErrorMessage = sessionv1.Outcome_OUTCOME_ERROR, o.errorType, o.errorMessage
		why = OutcomeError
	}
	if err := tx.PutSession(rec, next); err != nil {
		return outcome{}, fatal(err)
	}
	// A read's note of this session is ignored from now on (a closed session is not renewed)
	// and forgotten by the next sweep.
	return outcome{rec: next, events: []Event{closedEvent(next, now, why)}}, nil
}

// Delete removes a session, open or closed, with everything it owns.
func (k *Keeper) Delete(ctx context.Context, id string) error {
	if err := checkID("id", id); err != nil {
		return err
	}
	_, err := k.submit(ctx, &deleteOp{id: id})
	return err
}

type deleteOp struct{ id string }

func (o *deleteOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	rec, err := k.lookup(tx, o.id, now)
	if err != nil {
		return outcome{}, err
	}
	events, err := k.remove(tx, rec, now, OutcomeDeleted)
	return outcome{events: events}, err
}

// Transition moves an open session to state `to` if the table allows it; with expectedFrom
// set, only if the session is in that state.
func (k *Keeper) Transition(ctx context.Context, id string, to, expectedFrom chatstate.State) (*Record, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	if err := checkState("to", to, false); err != nil {
		return nil, err
	}
	if err := checkState("expected_from", expectedFrom, true); err != nil {
		return nil, err
	}
	out, err := k.submit(ctx, &transitionOp{id: id, to: to, expectedFrom: expectedFrom})
	return out.rec, err
}

type transitionOp struct {
	id               string
	to, expectedFrom chatstate.State
}

func (o *transitionOp) apply(k *Keeper, tx Tx, now time.Time) (outcome, error) {
	rec, err := k.lookupOpen(tx, o.id, now)
	if err != nil {
		return outcome{}, err
	}
	if o.expectedFrom != 0 && rec.State != o.expectedFrom {
		return outcome{}, apierr.FailedPrecondition("session %q is in state %s, not in expected_from %s; nothing was changed",
			o.id, rec.State, o.expectedFrom)
	}
	if err := chatstate.Check(rec.State, o.to); err != nil {
		return outcome{}, err
	}
	next := rec.clone()
	k.used(next, now, true)
	next.State = o.to
	t := &sessionv1.Transition{Seq: next.HistoryNext, From: rec.State, To: o.to, Time: timestamppb.New(now)}
	if err := tx.AppendHistory(o.id, t); err != nil {
		return outcome{}, fatal(err)
	}
	next.HistoryNext++
	for next.HistoryNext-next.HistoryFirst > uint64(k.cfg.MaxHistory) {
		if err := tx.DeleteHistory(o.id, next.HistoryFirst); err != nil {
			return outcome{}, fatal(err)
		}
		next.HistoryFirst++
	}
	if err := tx.PutSession(rec, next); err != nil {
		return outcome{}, fatal(err)
	}
	return outcome{rec: next}, nil
}
