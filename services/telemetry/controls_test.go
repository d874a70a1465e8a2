package telemetry_test

import (
	"context"
	"testing"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// NUL is refused in every text field and every control character in a name (a key of the
// aggregates and a metric label), with INVALID_ARGUMENT naming the field; nothing is recorded.
func TestControlCharactersAreRefusedAndRecordNothing(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	with := func(f func(c *telemetryv1.ToolCall)) *telemetryv1.ToolCall {
		c := okCall("s", "tool", 5)
		f(c)
		return c
	}
	calls := []struct {
		name string
		c    *telemetryv1.ToolCall
		msg  string
	}{
		{"NUL in tool", with(func(c *telemetryv1.ToolCall) { c.Tool = "tool\x00" }), "call.tool has control character U+0000 at byte 4"},
		{"newline in tool", with(func(c *telemetryv1.ToolCall) { c.Tool = "a\nb" }), "call.tool has control character U+000A"},
		{"NUL in session_id", with(func(c *telemetryv1.ToolCall) { c.SessionId = "\x00" }), "call.session_id has control character U+0000"},
		{"DEL in correlation_id", with(func(c *telemetryv1.ToolCall) { c.CorrelationId = "c\x7f" }), "call.correlation_id has control character U+007F"},
		{"NUL in error", with(func(c *telemetryv1.ToolCall) { c.Error = "x\x00"; c.Status = telemetryv1.CallStatus_CALL_STATUS_ERROR }), "call.error has control character U+0000"},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.RecordToolCall(context.Background(), &telemetryv1.RecordToolCallRequest{Call: tt.c})
			wantInvalid(t, err, tt.msg)
			_, err = r.client.RecordToolCalls(context.Background(), &telemetryv1.RecordToolCallsRequest{Calls: []*telemetryv1.ToolCall{okCall("s", "tool", 1), tt.c}})
			wantInvalid(t, err, "calls[1].")
		})
	}
	_, err := r.client.RecordServerEvent(context.Background(), &telemetryv1.RecordServerEventRequest{Event: &telemetryv1.ServerEvent{
		Kind: telemetryv1.ServerEventKind_SERVER_EVENT_KIND_START, Server: "gw\x00"}})
	wantInvalid(t, err, "event.server has control character U+0000")

	if sum := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}); sum.GetToolCalls() != 0 {
		t.Fatalf("%d tool calls recorded, want none", sum.GetToolCalls())
	}
	if n := len(listAll(t, r.client, &telemetryv1.ListToolCallsRequest{})); n != 0 {
		t.Fatalf("%d records, want none", n)
	}
	// Free text keeps its lines.
	mustRecord(t, r.client, with(func(c *telemetryv1.ToolCall) {
		c.Error = "line one\nline two"
		c.Status = telemetryv1.CallStatus_CALL_STATUS_ERROR
	}))
}
