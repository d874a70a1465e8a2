package audit_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// NUL is refused in every text field and every control character in a name, with
// INVALID_ARGUMENT naming the field; nothing is stored. Tabs and newlines stay allowed in
// free text (an error message may have several lines).
func TestControlCharactersAreRefusedAndStoreNothing(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	with := func(f func(e *auditv1.Event)) *auditv1.Event {
		e := event(started, "s", "c", "tool", nil)
		f(e)
		return e
	}
	tests := []struct {
		name string
		e    *auditv1.Event
		msg  string
	}{
		{"NUL in tool", with(func(e *auditv1.Event) { e.Tool = "read\x00file" }), "event.tool has control character U+0000 at byte 4"},
		{"NUL in session_id", with(func(e *auditv1.Event) { e.SessionId = "s\x00" }), "event.session_id has control character U+0000"},
		{"NUL in correlation_id", with(func(e *auditv1.Event) { e.CorrelationId = "\x00c" }), "event.correlation_id has control character U+0000 at byte 0"},
		{"newline in tool", with(func(e *auditv1.Event) { e.Tool = "tool\nforged line" }), "event.tool has control character U+000A"},
		{"escape in operation", with(func(e *auditv1.Event) { e.Operation = "\x1b[2Jread" }), "event.operation has control character U+001B"},
		{"C1 control in error_code", with(func(e *auditv1.Event) { e.ErrorCode = "e\u0085" }), "event.error_code has control character U+0085"},
		{"NUL in error_message", with(func(e *auditv1.Event) { e.ErrorMessage = "bad\x00" }), "event.error_message has control character U+0000"},
		{"NUL in resource_uri", with(func(e *auditv1.Event) { e.ResourceUri = "file:///etc/passwd\x00.txt" }), "event.resource_uri has control character U+0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.Append(context.Background(), &auditv1.AppendRequest{Event: tt.e})
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("err = %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), tt.msg)
			}
			_, err = r.client.AppendBatch(context.Background(), &auditv1.AppendBatchRequest{Events: []*auditv1.Event{event(started, "s", "c", "tool", nil), tt.e}})
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "events[1].") {
				t.Fatalf("in a batch: %v %q, want InvalidArgument naming events[1]", st.Code(), st.Message())
			}
		})
	}
	mustVerify(t, r.client, 0) // nothing was stored
	mustAppend(t, r.client, with(func(e *auditv1.Event) { e.ErrorMessage = "line one\n\tline two"; e.Tool = "café_tool" }))
	mustVerify(t, r.client, 1)
}
