package session_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/session/internal/badgerstore"
)

func clockConfig(t *testing.T) (*clock, *running) {
	t.Helper()
	clk := newClock()
	cfg := testConfig(t.TempDir())
	cfg.Now = clk.Now
	return clk, start(t, cfg)
}

func wantGone(t *testing.T, r *running, id string) {
	t.Helper()
	ctx := context.Background()
	_, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: id})
	wantCode(t, err, codes.NotFound, id)
	_, err = r.client.GetValue(ctx, &sessionv1.GetValueRequest{SessionId: id, Key: "k"})
	wantCode(t, err, codes.NotFound)
	_, err = r.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: id, Key: "k", Value: structpb.NewBoolValue(true)})
	wantCode(t, err, codes.NotFound)
	_, err = r.client.TransitionState(ctx, &sessionv1.TransitionStateRequest{Id: id, To: sError})
	wantCode(t, err, codes.NotFound)
	_, err = r.client.GetHistory(ctx, &sessionv1.GetHistoryRequest{Id: id})
	wantCode(t, err, codes.NotFound)
}

// The idle TTL runs from the last use; writes and reads alike renew it, reads also across a
// sweep (which persists their renewal). Once it passes, every operation says NOT_FOUND at once,
// before any sweep, and the next sweep removes every key the session owned.
func TestIdleTTLIsRenewedByAnyUseAndExpiresWithoutWaiting(t *testing.T) {
	clk, r := clockConfig(t)
	ctx := context.Background()
	s := mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "idle", IdleTtl: ttl(10 * time.Minute)})
	if want := clk.Now().Add(10 * time.Minute); !s.GetExpiresAt().AsTime().Equal(want) {
		t.Fatalf("expires_at %v, want %v", s.GetExpiresAt().AsTime(), want)
	}
	mustSet(t, r.client, "idle", "k", structpb.NewStringValue("v"), 0)
	mustTransition(t, r.client, "idle", sIntent)

	uses := []struct {
		name string
		use  func() error
	}{
		{"set", func() error {
			_, err := r.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: "idle", Key: "k", Value: structpb.NewStringValue("w")})
			return err
		}},
		{"get value", func() error {
			_, err := r.client.GetValue(ctx, &sessionv1.GetValueRequest{SessionId: "idle", Key: "k"})
			return err
		}},
		{"list values", func() error {
			_, err := r.client.ListValues(ctx, &sessionv1.ListValuesRequest{SessionId: "idle"})
			return err
		}},
		{"history", func() error { _, err := r.client.GetHistory(ctx, &sessionv1.GetHistoryRequest{Id: "idle"}); return err }},
		{"get session", func() error { _, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "idle"}); return err }},
		{"touch", func() error {
			_, err := r.client.TouchSession(ctx, &sessionv1.TouchSessionRequest{Id: "idle"})
			return err
		}},
	}
	for _, u := range uses {
		clk.Advance(9 * time.Minute)
		if err := u.use(); err != nil {
			t.Fatalf("%s 9 minutes after the last use: %v", u.name, err)
		}
		r.sweep(t) // persists a read's renewal; must not remove the session
	}
	clk.Advance(9 * time.Minute)
	got, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "idle"})
	if err != nil {
		t.Fatalf("session used 9 minutes ago: %v", err)
	}
	if want := clk.Now().Add(10 * time.Minute); !got.GetExpiresAt().AsTime().Equal(want) {
		t.Fatalf("expires_at after a read %v, want %v", got.GetExpiresAt().AsTime(), want)
	}

	before := r.keys(t, badgerstore.Group("idle"))
	clk.Advance(10 * time.Minute) // exactly the idle TTL: dead
	wantGone(t, r, "idle")
	if n := r.keys(t, badgerstore.Group("idle")); n != before {
		t.Fatalf("keys changed from %d to %d before any sweep", before, n)
	}
	r.sweep(t)
	if n := r.keys(t, badgerstore.Group("idle")) + r.keys(t, nil); n != 0 {
		t.Fatalf("%d keys left after the sweep", n)
	}
}

// A session used often moves its deadline index entry only about once a minute, so the
// sweeper may find it due before its real deadline: it must keep it, and remove it only once
// the real deadline has passed.
func TestSweeperKeepsASessionIndexedEarly(t *testing.T) {
	clk, r := clockConfig(t)
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "busy", IdleTtl: ttl(10 * time.Minute)})
	for range 3 { // three writes 15 s apart: the real deadline moves 45 s, the index not at all
		clk.Advance(15 * time.Second)
		mustSet(t, r.client, "busy", "k", structpb.NewBoolValue(true), 0)
	}
	clk.Advance(10*time.Minute - time.Second) // past the first indexed deadline, 1 s before the real one
	r.sweep(t)
	// ListSessions is not a use of the session: it does not renew it, as GetSession would.
	list, err := r.client.ListSessions(context.Background(), &sessionv1.ListSessionsRequest{})
	if err != nil || len(list.GetSessions()) != 1 {
		t.Fatalf("a live session found early by the sweeper was removed: %v %v", list.GetSessions(), err)
	}
	clk.Advance(time.Second)
	r.sweep(t)
	if n := r.keys(t, nil); n != 0 {
		t.Fatalf("%d keys left after the real deadline", n)
	}
}

// The absolute TTL ends a session however busy it is.
func TestAbsoluteTTLEndsABusySession(t *testing.T) {
	clk, r := clockConfig(t)
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "busy", IdleTtl: ttl(time.Hour), MaxTtl: ttl(3 * time.Hour)})
	for i := range 5 { // used every 35 minutes: never idle for long
		clk.Advance(35 * time.Minute)
		mustSet(t, r.client, "busy", "k", structpb.NewNumberValue(float64(i)), 0)
	}
	clk.Advance(5*time.Minute - time.Nanosecond) // 2h59m59.999999999s after creation
	if _, err := r.client.TouchSession(context.Background(), &sessionv1.TouchSessionRequest{Id: "busy"}); err != nil {
		t.Fatalf("just before the absolute TTL: %v", err)
	}
	clk.Advance(time.Nanosecond)
	wantGone(t, r, "busy")
	r.sweep(t)
	if n := r.keys(t, nil); n != 0 {
		t.Fatalf("%d keys left after the sweep", n)
	}
}

// A closed session is read-only and readable for the retention, then it goes with everything
// it owned. Its outcome and duration are recorded.
func TestClosedSessionIsKeptForRetentionThenRemoved(t *testing.T) {
	clk, r := clockConfig(t)
	ctx := context.Background()
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "done"})
	mustSet(t, r.client, "done", "k", structpb.NewStringValue("v"), 0)
	mustTransition(t, r.client, "done", sError)
	clk.Advance(90 * time.Second)
	s, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "done", ErrorType: "connection_error", ErrorMessage: "mysql: refused"})
	if err != nil {
		t.Fatal(err)
	}
	if s.GetOutcome() != sessionv1.Outcome_OUTCOME_ERROR || s.GetErrorType() != "connection_error" || s.GetErrorMessage() != "mysql: refused" ||
		s.GetDurationSeconds() != 90 || !s.GetClosedAt().AsTime().Equal(clk.Now()) || !s.GetExpiresAt().AsTime().Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("closed session %v", s)
	}
	_, err = r.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: "done", Key: "k", Value: structpb.NewBoolValue(true)})
	wantCode(t, err, codes.FailedPrecondition, "closed")
	_, err = r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "done"})
	wantCode(t, err, codes.FailedPrecondition, "closed")
	_, err = r.client.TransitionState(ctx, &sessionv1.TransitionStateRequest{Id: "done", To: sInit})
	wantCode(t, err, codes.FailedPrecondition, "closed")

	clk.Advance(59 * time.Minute) // reads still work, and do not extend the retention
	if v, err := r.client.GetValue(ctx, &sessionv1.GetValueRequest{SessionId: "done", Key: "k"}); err != nil || v.GetValue().GetStringValue() != "v" {
		t.Fatalf("value of a closed session: %v %v", v, err)
	}
	list, err := r.client.ListSessions(ctx, &sessionv1.ListSessionsRequest{})
	if err != nil || len(list.GetSessions()) != 0 {
		t.Fatalf("open sessions: %v %v, want none", list.GetSessions(), err)
	}
	list, err = r.client.ListSessions(ctx, &sessionv1.ListSessionsRequest{IncludeClosed: true})
	if err != nil || len(list.GetSessions()) != 1 {
		t.Fatalf("with closed: %v %v, want one", list.GetSessions(), err)
	}
	r.sweep(t)
	clk.Advance(time.Minute)
	wantGone(t, r, "done")
	r.sweep(t)
	if n := r.keys(t, nil); n != 0 {
		t.Fatalf("%d keys left after the retention", n)
	}
}

// DeleteSession and ClearValues take effect at once; the keys they leave go with the next
// sweep. A session re-created under a deleted id starts empty.
func TestDeleteAndClearLeaveNoKeysBehind(t *testing.T) {
	_, r := clockConfig(t)
	ctx := context.Background()
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "d"})
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, r.client, "d", k, structpb.NewStringValue(k), 0)
	}
	mustTransition(t, r.client, "d", sIntent)
	cleared, err := r.client.ClearValues(ctx, &sessionv1.ClearValuesRequest{SessionId: "d"})
	if err != nil || cleared.GetRemoved() != 3 {
		t.Fatalf("clear = %v, %v; want 3 removed", cleared, err)
	}
	list, err := r.client.ListValues(ctx, &sessionv1.ListValuesRequest{SessionId: "d"})
	if err != nil || len(list.GetEntries()) != 0 {
		t.Fatalf("values after clear: %v %v", list.GetEntries(), err)
	}
	mustSet(t, r.client, "d", "a", structpb.NewStringValue("new"), -1) // a cleared key no longer exists
	r.sweep(t)
	// Left: record, one history entry, the new value, the deadline index entry.
	if n := r.keys(t, nil); n != 4 {
		t.Fatalf("%d keys after clear and sweep, want 4", n)
	}
	if _, err := r.client.DeleteSession(ctx, &sessionv1.DeleteSessionRequest{Id: "d"}); err != nil {
		t.Fatal(err)
	}
	wantGone(t, r, "d")
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "d"}) // before any sweep
	h, err := r.client.GetHistory(ctx, &sessionv1.GetHistoryRequest{Id: "d"})
	if err != nil || len(h.GetTransitions()) != 0 {
		t.Fatalf("history of the re-created session: %v %v", h.GetTransitions(), err)
	}
	if _, err := r.client.GetValue(ctx, &sessionv1.GetValueRequest{SessionId: "d", Key: "a"}); err == nil {
		t.Fatal("re-created session sees a value of the deleted one")
	}
	if _, err := r.client.DeleteSession(ctx, &sessionv1.DeleteSessionRequest{Id: "d"}); err != nil {
		t.Fatal(err)
	}
	r.sweep(t)
	if n := r.keys(t, nil); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}
