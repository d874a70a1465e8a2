// Package chatstate is the one transition table of the Osiris agent's conversation states.
//
// The original agent changed its state by assignment, with no table and no checks (defect
// STATE-015), so any state could follow any other. Here every move is checked against the
// table below, which is the only place legal moves are written down:
//
//	from              legal next states
//	INIT              INTENT_CAPTURED, ERROR
//	INTENT_CAPTURED   DISCOVERY, ERROR
//	DISCOVERY         OML_SYNTHESIS, ERROR
//	OML_SYNTHESIS     VALIDATE_OML, ERROR
//	VALIDATE_OML      REGENERATE, COMPILE, ERROR
//	REGENERATE        VALIDATE_OML, ERROR
//	COMPILE           RUN, ERROR
//	RUN               COMPLETE, ERROR
//	COMPLETE          INIT, ERROR
//	ERROR             INIT, ERROR
//
// It makes the agent's real flow legal, INIT → INTENT_CAPTURED → DISCOVERY → OML_SYNTHESIS →
// VALIDATE_OML → (REGENERATE → VALIDATE_OML)* → COMPILE → RUN → COMPLETE, lets any state fail
// into ERROR (ERROR included, so a failed recovery is recorded too), and lets ERROR and
// COMPLETE start over at INIT, as the agent does when the user asks for another pipeline in
// the same chat. Nothing else is legal: no skipping validation, no running uncompiled OML, no
// leaving ERROR except by starting over.
package chatstate

import (
	"strings"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/apierr"
)

// State is a conversation state.
type State = sessionv1.ChatState

// Short names for the table.
const (
	Init           = sessionv1.ChatState_CHAT_STATE_INIT
	IntentCaptured = sessionv1.ChatState_CHAT_STATE_INTENT_CAPTURED
	Discovery      = sessionv1.ChatState_CHAT_STATE_DISCOVERY
	OMLSynthesis   = sessionv1.ChatState_CHAT_STATE_OML_SYNTHESIS
	ValidateOML    = sessionv1.ChatState_CHAT_STATE_VALIDATE_OML
	Regenerate     = sessionv1.ChatState_CHAT_STATE_REGENERATE
	Compile        = sessionv1.ChatState_CHAT_STATE_COMPILE
	Run            = sessionv1.ChatState_CHAT_STATE_RUN
	Complete       = sessionv1.ChatState_CHAT_STATE_COMPLETE
	Error          = sessionv1.ChatState_CHAT_STATE_ERROR
)

// next is the transition table (see the package comment). A function rather than a
// package-level map, so nothing can change it at run time.
func next(from State) []State {
	switch from {
	case Init:
		return []State{IntentCaptured, Error}
	case IntentCaptured:
		return []State{Discovery, Error}
	case Discovery:
		return []State{OMLSynthesis, Error}
	case OMLSynthesis:
		return []State{ValidateOML, Error}
	case ValidateOML:
		return []State{Regenerate, Compile, Error}
	case Regenerate:
		return []State{ValidateOML, Error}
	case Compile:
		return []State{Run, Error}
	case Run:
		return []State{Complete, Error}
	case Complete:
		return []State{Init, Error}
	case Error:
		return []State{Init, Error}
	}
	return nil
}

// All is every state, in enum order.
func All() []State {
	return []State{Init, IntentCaptured, Discovery, OMLSynthesis, ValidateOML, Regenerate, Compile, Run, Complete, Error}
}

// Next returns the states that may follow from, in table order.
func Next(from State) []State { return next(from) }

// Allowed reports whether the table permits from → to.
func Allowed(from, to State) bool {
	for _, s := range next(from) {
		if s == to {
			return true
		}
	}
	return false
}

// Known reports whether s is one of the ten states (not UNSPECIFIED, not out of range).
func Known(s State) bool { return len(next(s)) > 0 }

// Check returns nil when from → to is legal, and otherwise a FailedPrecondition error that
// names both states and what would have been legal.
func Check(from, to State) error {
	if Allowed(from, to) {
		return nil
	}
	legal := make([]string, 0, 3)
	for _, s := range next(from) {
		legal = append(legal, s.String())
	}
	return apierr.FailedPrecondition("transition from %s to %s is not allowed; from %s the session may go to %s",
		from, to, from, strings.Join(legal, ", "))
}
