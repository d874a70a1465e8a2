package session_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
)

// NUL is refused in every text field and every control character in a name (value keys,
// label keys, error types), with INVALID_ARGUMENT naming the field; nothing changes.
func TestControlCharactersAreRefusedAndChangeNothing(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	ctx := context.Background()
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "ok"})
	before, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	keysBefore := r.keys(t, nil)
	tests := []struct {
		name string
		call func() error
		msg  string
	}{
		{"NUL in a value key", func() error {
			_, err := r.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: "ok", Key: "k\x00", Value: structpb.NewNullValue()})
			return err
		}, "key has control character U+0000 at byte 1"},
		{"newline in a value key", func() error {
			_, err := r.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: "ok", Key: "a\nb", Value: structpb.NewNullValue()})
			return err
		}, "key has control character U+000A"},
		{"NUL in a label key", func() error {
			_, err := r.client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: "new", Labels: map[string]string{"c\x00": "v"}})
			return err
		}, `label key "c\x00" has control character U+0000`},
		{"NUL in a label value", func() error {
			_, err := r.client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: "new", Labels: map[string]string{"client": "v\x00"}})
			return err
		}, `label "client" has control character U+0000`},
		{"escape in an error type", func() error {
			_, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "ok", ErrorType: "\x1b[31mtimeout"})
			return err
		}, "error_type has control character U+001B"},
		{"NUL in an error message", func() error {
			_, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "ok", ErrorType: "timeout", ErrorMessage: "a\x00"})
			return err
		}, "error_message has control character U+0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), codes.InvalidArgument, tt.msg) })
	}
	after, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetVersion() != before.GetVersion() || after.GetClosedAt() != nil || r.keys(t, nil) != keysBefore {
		t.Fatalf("the store changed: version %d -> %d, closed %v, keys %d -> %d", before.GetVersion(), after.GetVersion(), after.GetClosedAt(), keysBefore, r.keys(t, nil))
	}
	if _, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: "new"}); err == nil {
		t.Fatal("a session with a bad label was created")
	}
}
