package session_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/session/internal/chatstate"
)

const (
	sInit     = sessionv1.ChatState_CHAT_STATE_INIT
	sIntent   = sessionv1.ChatState_CHAT_STATE_INTENT_CAPTURED
	sDisc     = sessionv1.ChatState_CHAT_STATE_DISCOVERY
	sSynth    = sessionv1.ChatState_CHAT_STATE_OML_SYNTHESIS
	sValidate = sessionv1.ChatState_CHAT_STATE_VALIDATE_OML
	sRegen    = sessionv1.ChatState_CHAT_STATE_REGENERATE
	sCompile  = sessionv1.ChatState_CHAT_STATE_COMPILE
	sRun      = sessionv1.ChatState_CHAT_STATE_RUN
	sComplete = sessionv1.ChatState_CHAT_STATE_COMPLETE
	sError    = sessionv1.ChatState_CHAT_STATE_ERROR
)

var allStates = []sessionv1.ChatState{sInit, sIntent, sDisc, sSynth, sValidate, sRegen, sCompile, sRun, sComplete, sError}

// documentedTable is the transition table as the README and package chatstate document it,
// written out here independently of the implementation: the agent's flow, any state to
// ERROR, and ERROR and COMPLETE back to INIT.
func documentedTable() map[[2]sessionv1.ChatState]bool {
	t := map[[2]sessionv1.ChatState]bool{}
	flow := []sessionv1.ChatState{sInit, sIntent, sDisc, sSynth, sValidate, sCompile, sRun, sComplete}
	for i := 0; i+1 < len(flow); i++ {
		t[[2]sessionv1.ChatState{flow[i], flow[i+1]}] = true
	}
	t[[2]sessionv1.ChatState{sValidate, sRegen}] = true
	t[[2]sessionv1.ChatState{sRegen, sValidate}] = true
	for _, s := range allStates {
		t[[2]sessionv1.ChatState{s, sError}] = true
	}
	t[[2]sessionv1.ChatState{sError, sInit}] = true
	t[[2]sessionv1.ChatState{sComplete, sInit}] = true
	return t
}

// pathTo is a shortest legal path from INIT to target in table.
func pathTo(table map[[2]sessionv1.ChatState]bool, target sessionv1.ChatState) []sessionv1.ChatState {
	prev := map[sessionv1.ChatState]sessionv1.ChatState{}
	queue, seen := []sessionv1.ChatState{sInit}, map[sessionv1.ChatState]bool{sInit: true}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s == target {
			var path []sessionv1.ChatState
			for ; s != sInit; s = prev[s] {
				path = append([]sessionv1.ChatState{s}, path...)
			}
			return path
		}
		for _, n := range allStates {
			if table[[2]sessionv1.ChatState{s, n}] && !seen[n] {
				seen[n], prev[n] = true, s
				queue = append(queue, n)
			}
		}
	}
	panic(fmt.Sprintf("%s unreachable", target))
}

// STATE-015: the original had no transition table, so any state could follow any other.
// Every (from, to) pair of the ten states is tried on a session driven to `from` by a legal
// path; exactly the documented table's pairs succeed, and a refused transition names both
// states and changes neither the state, the version nor the history.
func TestSTATE015EveryPairOfStatesExactlyTheTableSucceeds(t *testing.T) {
	table := documentedTable()
	for _, from := range allStates { // the implementation's table is the documented one
		for _, to := range allStates {
			if chatstate.Allowed(from, to) != table[[2]sessionv1.ChatState{from, to}] {
				t.Fatalf("chatstate.Allowed(%s, %s) = %v, documented %v", from, to, !table[[2]sessionv1.ChatState{from, to}], table[[2]sessionv1.ChatState{from, to}])
			}
		}
	}
	r := start(t, testConfig(t.TempDir()))
	ctx := context.Background()
	succeeded := 0
	for _, from := range allStates {
		for _, to := range allStates {
			id := fmt.Sprintf("pair-%s-%s", from, to)
			mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: id})
			path := pathTo(table, from)
			for _, s := range path {
				mustTransition(t, r.client, id, s)
			}
			got, err := r.client.TransitionState(ctx, &sessionv1.TransitionStateRequest{Id: id, To: to, ExpectedFrom: from})
			if table[[2]sessionv1.ChatState{from, to}] {
				if err != nil || got.GetState() != to {
					t.Fatalf("%s -> %s is in the table but got %v (state %s)", from, to, err, got.GetState())
				}
				succeeded++
				continue
			}
			wantCode(t, err, codes.FailedPrecondition, from.String(), to.String())
			s, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			h, err := r.client.GetHistory(ctx, &sessionv1.GetHistoryRequest{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			if s.GetState() != from || s.GetVersion() != int64(1+len(path)) || len(h.GetTransitions()) != len(path) {
				t.Fatalf("refused %s -> %s changed the session: state %s, version %d, %d transitions", from, to, s.GetState(), s.GetVersion(), len(h.GetTransitions()))
			}
		}
	}
	if succeeded != len(table) {
		t.Fatalf("%d pairs succeeded, the table has %d", succeeded, len(table))
	}
}

// The agent's real flow, with three regenerate loops, is legal end to end, and the history
// records it in order.
func TestOriginalFlowIsLegalAndRecorded(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	id := "20251104_153012_a1b2c3d4"
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: id})
	flow := []sessionv1.ChatState{sIntent, sDisc, sSynth, sValidate, sRegen, sValidate, sRegen, sValidate, sRegen, sValidate, sCompile, sRun, sComplete, sInit, sIntent, sError, sInit}
	prev := sInit
	for _, s := range flow {
		got, err := r.client.TransitionState(context.Background(), &sessionv1.TransitionStateRequest{Id: id, To: s, ExpectedFrom: prev})
		if err != nil || got.GetState() != s {
			t.Fatalf("%s -> %s: %v", prev, s, err)
		}
		prev = s
	}
	h, err := r.client.GetHistory(context.Background(), &sessionv1.GetHistoryRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.GetTransitions()) != len(flow) || h.GetDropped() != 0 {
		t.Fatalf("history has %d transitions (%d dropped), want %d", len(h.GetTransitions()), h.GetDropped(), len(flow))
	}
	from := sInit
	for i, tr := range h.GetTransitions() {
		if tr.GetSeq() != uint64(i+1) || tr.GetFrom() != from || tr.GetTo() != flow[i] || tr.GetTime() == nil {
			t.Fatalf("transition %d = %v, want seq %d %s -> %s", i, tr, i+1, from, flow[i])
		}
		from = flow[i]
	}
}

// A stale expected_from is refused with both states named, even when the move itself would
// be legal from the real state; two agents racing on one session cannot both move it.
func TestStaleExpectedFromIsRefused(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "chat_1700000000"})
	mustTransition(t, r.client, "chat_1700000000", sIntent)
	_, err := r.client.TransitionState(context.Background(), &sessionv1.TransitionStateRequest{Id: "chat_1700000000", To: sError, ExpectedFrom: sInit})
	wantCode(t, err, codes.FailedPrecondition, "CHAT_STATE_INTENT_CAPTURED", "CHAT_STATE_INIT")

	// 20 goroutines try INTENT_CAPTURED -> DISCOVERY with expected_from: exactly one wins.
	ok := make(chan bool, 20)
	for range 20 {
		go func() {
			_, err := r.client.TransitionState(context.Background(), &sessionv1.TransitionStateRequest{Id: "chat_1700000000", To: sDisc, ExpectedFrom: sIntent})
			ok <- err == nil
		}()
	}
	wins := 0
	for range 20 {
		if <-ok {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d racing transitions with the same expected_from succeeded, want 1", wins)
	}
}

// STATE-004 (history part): the original's history grew without bound. Here it keeps the
// newest --max-history transitions and drops the oldest first.
func TestSTATE004HistoryIsBoundedOldestDroppedFirst(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxHistory = 5
	r := start(t, cfg)
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "h"})
	mustTransition(t, r.client, "h", sIntent)
	for range 6 { // 12 more transitions: 13 in all
		mustTransition(t, r.client, "h", sError)
		mustTransition(t, r.client, "h", sInit)
	}
	h, err := r.client.GetHistory(context.Background(), &sessionv1.GetHistoryRequest{Id: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.GetTransitions()) != 5 || h.GetDropped() != 8 {
		t.Fatalf("history keeps %d, dropped %d; want 5 and 8", len(h.GetTransitions()), h.GetDropped())
	}
	for i, tr := range h.GetTransitions() {
		if tr.GetSeq() != uint64(9+i) {
			t.Fatalf("kept seqs start %d, want 9..13", h.GetTransitions()[0].GetSeq())
		}
	}
	if last := h.GetTransitions()[4]; last.GetFrom() != sError || last.GetTo() != sInit {
		t.Fatalf("newest kept transition %v, want ERROR -> INIT", last)
	}
}
