package sessions

import (
	"maps"
	"time"

	"github.com/osirisplane/osiris/services/session/internal/chatstate"
)

// EventKind says which lifecycle event happened.
type EventKind int

// The lifecycle events; they become the audit events session_started and session_closed.
const (
	SessionStarted EventKind = iota + 1
	SessionClosed
)

// Why a session ended, in Event.Outcome.
const (
	OutcomeOK      = "ok"
	OutcomeError   = "error"
	OutcomeExpired = "expired"
	OutcomeDeleted = "deleted"
)

// Event is a session lifecycle event, emitted after the change it reports is durable.
type Event struct {
	Kind         EventKind
	SessionID    string
	Time         time.Time
	Labels       map[string]string
	State        chatstate.State
	Outcome      string // SessionClosed only
	ErrorType    string
	ErrorMessage string
	Duration     time.Duration // SessionClosed only: from creation to the end
}

// Sink receives events. Emit must not block: a session call never waits for its audit.
type Sink interface {
	Emit(Event)
}

type discard struct{}

func (discard) Emit(Event) {}

func startedEvent(rec *Record) Event {
	return Event{Kind: SessionStarted, SessionID: rec.ID, Time: rec.CreatedAt, Labels: maps.Clone(rec.Labels), State: rec.State}
}

func closedEvent(rec *Record, now time.Time, outcome string) Event {
	end := now
	if !rec.Open() {
		end = rec.ClosedAt
	}
	return Event{
		Kind: SessionClosed, SessionID: rec.ID, Time: end, Labels: maps.Clone(rec.Labels), State: rec.State,
		Outcome: outcome, ErrorType: rec.ErrorType, ErrorMessage: rec.ErrorMessage, Duration: end.Sub(rec.CreatedAt),
	}
}
