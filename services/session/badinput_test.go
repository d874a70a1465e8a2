package session_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
)

func deep(levels int) *structpb.Value {
	v := structpb.NewBoolValue(true)
	for range levels - 1 {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return v
}

func manyLabels(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[sid("l", i)] = "v"
	}
	return m
}

// Every validation rule, over gRPC: the code, a message that names the rule, and no change
// to the store (the session's version and the key count stay as they were).
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxValueBytes = 4096
	cfg.MaxKeysPerSession = 3
	cfg.IdleTTLLimit = 2 * time.Hour
	cfg.MaxTTLLimit = 48 * time.Hour
	r := start(t, cfg)
	ctx := context.Background()
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "ok"})
	v1 := mustSet(t, r.client, "ok", "a", structpb.NewStringValue("a"), -1)
	mustSet(t, r.client, "ok", "b", structpb.NewStringValue("b"), -1)
	mustSet(t, r.client, "ok", "c", structpb.NewStringValue("c"), -1) // at the key limit now
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "closed"})
	if _, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "closed"}); err != nil {
		t.Fatal(err)
	}
	before, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	keysBefore := r.keys(t, nil)

	set := func(req *sessionv1.SetValueRequest) error { _, err := r.client.SetValue(ctx, req); return err }
	create := func(req *sessionv1.CreateSessionRequest) error {
		_, err := r.client.CreateSession(ctx, req)
		return err
	}
	long := strings.Repeat("k", 257)
	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		// Ids.
		{"id with a space", func() error { return create(&sessionv1.CreateSessionRequest{Id: "chat 1"}) }, codes.InvalidArgument, "byte 0x20 at offset 4"},
		{"id of 129 characters", func() error { return create(&sessionv1.CreateSessionRequest{Id: strings.Repeat("a", 129)}) }, codes.InvalidArgument, "129 bytes"},
		{"id not ASCII", func() error { return create(&sessionv1.CreateSessionRequest{Id: "café"}) }, codes.InvalidArgument, "visible ASCII"},
		{"id with a control character", func() error { return create(&sessionv1.CreateSessionRequest{Id: "a\tb"}) }, codes.InvalidArgument, "byte 0x09"},
		{"duplicate id", func() error { return create(&sessionv1.CreateSessionRequest{Id: "ok"}) }, codes.AlreadyExists, `"ok" already exists`},
		{"duplicate of a closed session", func() error { return create(&sessionv1.CreateSessionRequest{Id: "closed"}) }, codes.AlreadyExists, "already exists"},
		{"get without id", func() error { _, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{}); return err }, codes.InvalidArgument, "id is required"},
		{"unknown session", func() error {
			_, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "nobody"})
			return err
		}, codes.NotFound, `"nobody" not found`},
		// Labels.
		{"65 labels", func() error { return create(&sessionv1.CreateSessionRequest{Labels: manyLabels(65)}) }, codes.InvalidArgument, "65 entries, over the limit of 64"},
		{"empty label key", func() error { return create(&sessionv1.CreateSessionRequest{Labels: map[string]string{"": "v"}}) }, codes.InvalidArgument, "label key"},
		{"label key of 129 bytes", func() error {
			return create(&sessionv1.CreateSessionRequest{Labels: map[string]string{long[:129]: "v"}})
		}, codes.InvalidArgument, "1 to 128 bytes"},
		{"label value of 1025 bytes", func() error {
			return create(&sessionv1.CreateSessionRequest{Labels: map[string]string{"k": strings.Repeat("v", 1025)}})
		}, codes.InvalidArgument, "1025 bytes, over the limit of 1024"},
		// TTLs.
		{"idle ttl under a second", func() error { return create(&sessionv1.CreateSessionRequest{IdleTtl: ttl(500 * time.Millisecond)}) }, codes.InvalidArgument, "idle_ttl is 500ms; it must be at least 1s"},
		{"idle ttl over the limit", func() error { return create(&sessionv1.CreateSessionRequest{IdleTtl: ttl(3 * time.Hour)}) }, codes.InvalidArgument, "idle_ttl is 3h0m0s, over the limit of 2h0m0s"},
		{"max ttl over the limit", func() error { return create(&sessionv1.CreateSessionRequest{MaxTtl: ttl(49 * time.Hour)}) }, codes.InvalidArgument, "max_ttl is 49h0m0s, over the limit of 48h0m0s"},
		{"negative max ttl", func() error { return create(&sessionv1.CreateSessionRequest{MaxTtl: ttl(-time.Minute)}) }, codes.InvalidArgument, "max_ttl is -1m0s"},
		{"malformed duration", func() error {
			return create(&sessionv1.CreateSessionRequest{MaxTtl: &durationpb.Duration{Seconds: 1, Nanos: -1}})
		}, codes.InvalidArgument, "max_ttl:"},
		// Transitions.
		{"transition without target", func() error {
			_, err := r.client.TransitionState(ctx, &sessionv1.TransitionStateRequest{Id: "ok"})
			return err
		}, codes.InvalidArgument, "to is required"},
		{"transition to an unknown state", func() error {
			_, err := r.client.TransitionState(ctx, &sessionv1.TransitionStateRequest{Id: "ok", To: 42})
			return err
		}, codes.InvalidArgument, "to 42 is not a known chat state"},
		{"unknown expected_from", func() error {
			_, err := r.client.TransitionState(ctx, &sessionv1.TransitionStateRequest{Id: "ok", To: sIntent, ExpectedFrom: 11})
			return err
		}, codes.InvalidArgument, "expected_from 11"},
		{"illegal transition", func() error {
			_, err := r.client.TransitionState(ctx, &sessionv1.TransitionStateRequest{Id: "ok", To: sRun})
			return err
		}, codes.FailedPrecondition, "from CHAT_STATE_INIT to CHAT_STATE_RUN is not allowed"},
		// Closing.
		{"error message without type", func() error {
			_, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "ok", ErrorMessage: "boom"})
			return err
		}, codes.InvalidArgument, "error_message is set without error_type"},
		{"error type of 257 bytes", func() error {
			_, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "ok", ErrorType: long})
			return err
		}, codes.InvalidArgument, "error_type is 257 bytes"},
		{"error message over 64 KiB", func() error {
			_, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "ok", ErrorType: "x", ErrorMessage: strings.Repeat("m", 64<<10+1)})
			return err
		}, codes.InvalidArgument, "error_message is 65537 bytes"},
		{"touch a closed session", func() error {
			_, err := r.client.TouchSession(ctx, &sessionv1.TouchSessionRequest{Id: "closed"})
			return err
		}, codes.FailedPrecondition, "closed"},
		// Values.
		{"set without session", func() error { return set(&sessionv1.SetValueRequest{Key: "k", Value: structpb.NewNullValue()}) }, codes.InvalidArgument, "session_id is required"},
		{"empty key", func() error { return set(&sessionv1.SetValueRequest{SessionId: "ok", Value: structpb.NewNullValue()}) }, codes.InvalidArgument, "key is required"},
		{"key of 257 bytes", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: long, Value: structpb.NewNullValue()})
		}, codes.ResourceExhausted, "key is 257 bytes, over the limit of 256"},
		{"no value", func() error { return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a"}) }, codes.InvalidArgument, "value is required"},
		{"value without kind", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: &structpb.Value{}})
		}, codes.InvalidArgument, "value has no kind"},
		{"NaN", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: structpb.NewNumberValue(math.NaN())})
		}, codes.InvalidArgument, "value is NaN"},
		{"nested infinity", func() error {
			v := &structpb.Value{Kind: &structpb.Value_StructValue{StructValue: &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.Inf(1))}}}}
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: v})
		}, codes.InvalidArgument, "value.x is +Inf"},
		{"nested 65 deep", func() error { return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: deep(65)}) }, codes.InvalidArgument, "nested deeper than 64"},
		{"value over the limit", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: structpb.NewStringValue(strings.Repeat("v", 4096))})
		}, codes.ResourceExhausted, "over the limit of 4096"},
		{"expected_version -2", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: structpb.NewNullValue(), ExpectedVersion: -2})
		}, codes.InvalidArgument, "expected_version -2"},
		{"stale version", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: structpb.NewNullValue(), ExpectedVersion: v1 + 1})
		}, codes.FailedPrecondition, "is at version 2, not the expected_version 3"},
		{"must not exist, but exists", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "a", Value: structpb.NewNullValue(), ExpectedVersion: -1})
		}, codes.FailedPrecondition, "exists at version 2"},
		{"version of a missing key", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "zz", Value: structpb.NewNullValue(), ExpectedVersion: 2})
		}, codes.FailedPrecondition, "does not exist"},
		{"one key over the per-session limit", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "ok", Key: "d", Value: structpb.NewNullValue()})
		}, codes.ResourceExhausted, "holds 3 keys, the limit is 3"},
		{"set in a closed session", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "closed", Key: "a", Value: structpb.NewNullValue()})
		}, codes.FailedPrecondition, "closed"},
		{"set in an unknown session", func() error {
			return set(&sessionv1.SetValueRequest{SessionId: "nobody", Key: "a", Value: structpb.NewNullValue()})
		}, codes.NotFound, "not found"},
		{"get a missing key", func() error {
			_, err := r.client.GetValue(ctx, &sessionv1.GetValueRequest{SessionId: "ok", Key: "zz"})
			return err
		}, codes.NotFound, `has no key "zz"`},
		{"delete a missing key", func() error {
			_, err := r.client.DeleteValue(ctx, &sessionv1.DeleteValueRequest{SessionId: "ok", Key: "zz"})
			return err
		}, codes.NotFound, `has no key "zz"`},
		{"delete with version -1", func() error {
			_, err := r.client.DeleteValue(ctx, &sessionv1.DeleteValueRequest{SessionId: "ok", Key: "a", ExpectedVersion: -1})
			return err
		}, codes.InvalidArgument, "invalid for a delete"},
		{"delete with a stale version", func() error {
			_, err := r.client.DeleteValue(ctx, &sessionv1.DeleteValueRequest{SessionId: "ok", Key: "a", ExpectedVersion: 99})
			return err
		}, codes.FailedPrecondition, "not the expected_version 99"},
		{"clear a closed session", func() error {
			_, err := r.client.ClearValues(ctx, &sessionv1.ClearValuesRequest{SessionId: "closed"})
			return err
		}, codes.FailedPrecondition, "closed"},
		// Lists.
		{"negative page size", func() error {
			_, err := r.client.ListSessions(ctx, &sessionv1.ListSessionsRequest{PageSize: -1})
			return err
		}, codes.InvalidArgument, "page_size must not be negative"},
		{"malformed session token", func() error {
			_, err := r.client.ListSessions(ctx, &sessionv1.ListSessionsRequest{PageToken: "%%%"})
			return err
		}, codes.InvalidArgument, "page_token is malformed"},
		{"malformed value token", func() error {
			_, err := r.client.ListValues(ctx, &sessionv1.ListValuesRequest{SessionId: "ok", PageToken: "AQ"})
			return err
		}, codes.InvalidArgument, "page_token is malformed"},
		{"value token of another prefix", func() error {
			_, err := r.client.ListValues(ctx, &sessionv1.ListValuesRequest{SessionId: "ok", Prefix: "x", PageToken: "AWE"}) // after "a"
			return err
		}, codes.InvalidArgument, "different prefix"},
		{"prefix longer than a key", func() error {
			_, err := r.client.ListValues(ctx, &sessionv1.ListValuesRequest{SessionId: "ok", Prefix: long})
			return err
		}, codes.InvalidArgument, "prefix is 257 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), tt.code, tt.msg)
		})
	}
	after, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetVersion() != before.GetVersion() || after.GetState() != before.GetState() || after.GetValueCount() != 3 {
		t.Fatalf("refused requests changed the session: version %d -> %d, state %s, %d keys", before.GetVersion(), after.GetVersion(), after.GetState(), after.GetValueCount())
	}
	if n := r.keys(t, nil); n != keysBefore {
		t.Fatalf("refused requests changed the store: %d keys, %d before", n, keysBefore)
	}
	// Values at the limits are accepted: a 256-byte key replacing one of the 3, a value just
	// under 4096 bytes, 64 levels of nesting, 64 labels, the longest TTLs.
	if _, err := r.client.DeleteValue(ctx, &sessionv1.DeleteValueRequest{SessionId: "ok", Key: "c"}); err != nil {
		t.Fatal(err)
	}
	mustSet(t, r.client, "ok", long[:256], structpb.NewStringValue(strings.Repeat("v", 4000)), -1)
	mustSet(t, r.client, "ok", "a", deep(64), 0)
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: strings.Repeat("~", 128), Labels: manyLabels(64), IdleTtl: ttl(2 * time.Hour), MaxTtl: ttl(48 * time.Hour)})
}

// The number of stored sessions is bounded; an expired session gives its slot back at once
// (a create at the limit removes expired sessions first), a closed one only when removed.
func TestSessionLimitIsEnforcedAndExpiredSessionsGiveSlotsBack(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t.TempDir())
	cfg.Now = clk.Now
	cfg.MaxSessions = 3
	r := start(t, cfg)
	ctx := context.Background()
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "a", IdleTtl: ttl(time.Minute)})
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "b"})
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "c"})
	if _, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "c"}); err != nil {
		t.Fatal(err)
	}
	_, err := r.client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: "d"})
	wantCode(t, err, codes.ResourceExhausted, "3 sessions are stored", "the limit is 3")
	clk.Advance(2 * time.Minute) // "a" expires; no sweep has run
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "d"})
	_, err = r.client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: "e"})
	wantCode(t, err, codes.ResourceExhausted)
	if _, err := r.client.DeleteSession(ctx, &sessionv1.DeleteSessionRequest{Id: "c"}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "e"})
	// An expired id may be created again at once, as a new session.
	clk.Advance(31 * time.Minute)
	s := mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "b"})
	if s.GetVersion() != 1 || s.GetValueCount() != 0 {
		t.Fatalf("re-created session %v", s)
	}
}
