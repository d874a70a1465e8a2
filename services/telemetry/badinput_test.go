package telemetry_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

func nestedValue(depth int) *structpb.Value {
	v := structpb.NewBoolValue(true)
	for range depth - 1 {
		v = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"n": v}})
	}
	return v
}

func wantInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), msg) {
		t.Fatalf("err = %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), msg)
	}
}

// Bad input is refused with INVALID_ARGUMENT and a message naming the field and the rule,
// and nothing is recorded: no record, no total, no metric, no event.
func TestBadInputIsRefusedAndRecordsNothing(t *testing.T) {
	now := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	cfg := testConfig(t.TempDir())
	cfg.Now = newClock(now).Now
	r := start(t, cfg)
	with := func(f func(c *telemetryv1.ToolCall)) *telemetryv1.ToolCall {
		c := okCall("s", "tool", 5)
		f(c)
		return c
	}
	huge := structpb.NewStringValue(strings.Repeat("x", 300<<10))
	calls := []struct {
		name string
		c    *telemetryv1.ToolCall
		msg  string
	}{
		{"no call", nil, "call is required"},
		{"no tool", with(func(c *telemetryv1.ToolCall) { c.Tool = "" }), "call.tool is required"},
		{"no status", with(func(c *telemetryv1.ToolCall) { c.Status = 0 }), "call.status is required"},
		{"unknown status", with(func(c *telemetryv1.ToolCall) { c.Status = 9 }), "call.status 9 is not a known status"},
		{"client-set seq", with(func(c *telemetryv1.ToolCall) { c.Seq = 3 }), "call.seq is set by the service"},
		{"tool over 256 bytes", with(func(c *telemetryv1.ToolCall) { c.Tool = strings.Repeat("t", 257) }), "call.tool is 257 bytes, over the limit of 256"},
		{"session over 256 bytes", with(func(c *telemetryv1.ToolCall) { c.SessionId = strings.Repeat("s", 300) }), "call.session_id is 300 bytes"},
		{"correlation id over 256 bytes", with(func(c *telemetryv1.ToolCall) { c.CorrelationId = strings.Repeat("c", 257) }), "call.correlation_id is 257 bytes"},
		{"error over 16 KiB", with(func(c *telemetryv1.ToolCall) { c.Error = strings.Repeat("e", 16<<10+1) }), "call.error is 16385 bytes, over the limit of 16384"},
		{"negative duration", with(func(c *telemetryv1.ToolCall) { c.DurationMs = -0.5 }), "call.duration_ms must be a finite number >= 0, got -0.5"},
		{"NaN duration", with(func(c *telemetryv1.ToolCall) { c.DurationMs = math.NaN() }), "got NaN"},
		{"infinite duration", with(func(c *telemetryv1.ToolCall) { c.DurationMs = math.Inf(1) }), "got +Inf"},
		{"duration over seven days", with(func(c *telemetryv1.ToolCall) { c.DurationMs = 7*24*3600*1000 + 1 }), "over the limit of 604800000"},
		{"bytes in over 1 TiB", with(func(c *telemetryv1.ToolCall) { c.BytesIn = 1<<40 + 1 }), "call.bytes_in is 1099511627777, over the limit"},
		{"bytes out over 1 TiB", with(func(c *telemetryv1.ToolCall) { c.BytesOut = math.MaxUint64 }), "call.bytes_out is 18446744073709551615"},
		{"time ten minutes ahead", with(func(c *telemetryv1.ToolCall) { c.Time = timestamppb.New(now.Add(10 * time.Minute)) }), "ahead of the service's clock"},
		{"time before 1970", with(func(c *telemetryv1.ToolCall) { c.Time = timestamppb.New(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)) }), "is before 1970"},
		{"malformed time", with(func(c *telemetryv1.ToolCall) { c.Time = &timestamppb.Timestamp{Nanos: -1} }), "call.time:"},
		{"NaN in metadata", with(func(c *telemetryv1.ToolCall) {
			c.Metadata = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.NaN())}})
		}), "call.metadata.x is NaN"},
		{"metadata nested too deep", with(func(c *telemetryv1.ToolCall) { c.Metadata = nestedValue(40) }), "nested deeper than 32 levels"},
		{"metadata over 256 KiB", with(func(c *telemetryv1.ToolCall) { c.Metadata = huge }), "call.metadata is 307204 bytes, over the limit of 262144"},
		{"empty metadata value", with(func(c *telemetryv1.ToolCall) { c.Metadata = &structpb.Value{} }), "call.metadata has no value"},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.RecordToolCall(context.Background(), &telemetryv1.RecordToolCallRequest{Call: tt.c})
			wantInvalid(t, err, tt.msg)
		})
	}

	event := func(kind telemetryv1.ServerEventKind, f func(e *telemetryv1.ServerEvent)) *telemetryv1.ServerEvent {
		e := &telemetryv1.ServerEvent{Kind: kind, Server: "gw"}
		f(e)
		return e
	}
	start, stop, handshake := telemetryv1.ServerEventKind_SERVER_EVENT_KIND_START, telemetryv1.ServerEventKind_SERVER_EVENT_KIND_STOP, telemetryv1.ServerEventKind_SERVER_EVENT_KIND_HANDSHAKE
	none := func(*telemetryv1.ServerEvent) {}
	events := []struct {
		name string
		e    *telemetryv1.ServerEvent
		msg  string
	}{
		{"no event", nil, "event is required"},
		{"no kind", event(0, none), "event.kind is required"},
		{"unknown kind", event(9, none), "event.kind 9 is not a known server event kind"},
		{"stop with a version", event(stop, func(e *telemetryv1.ServerEvent) { e.Version = "1.0" }), "event.version does not belong to a SERVER_EVENT_KIND_STOP event"},
		{"start with a reason", event(start, func(e *telemetryv1.ServerEvent) { e.Reason = "x" }), "event.reason does not belong to a SERVER_EVENT_KIND_START event"},
		{"start with a duration", event(start, func(e *telemetryv1.ServerEvent) { e.DurationMs = 5 }), "event.duration_ms does not belong"},
		{"stop with client info", event(stop, func(e *telemetryv1.ServerEvent) { e.ClientInfo = structpb.NewStringValue("c") }), "event.client_info does not belong"},
		{"client-set totals", event(stop, func(e *telemetryv1.ServerEvent) { e.Totals = &telemetryv1.Totals{ToolCalls: 5} }), "set by the service"},
		{"client-set seq", event(start, func(e *telemetryv1.ServerEvent) { e.Seq = 1 }), "set by the service"},
		{"handshake with NaN duration", event(handshake, func(e *telemetryv1.ServerEvent) { e.DurationMs = math.NaN() }), "event.duration_ms must be a finite number"},
		{"reason over 16 KiB", event(stop, func(e *telemetryv1.ServerEvent) { e.Reason = strings.Repeat("r", 20000) }), "event.reason is 20000 bytes"},
		{"server over 256 bytes", event(start, func(e *telemetryv1.ServerEvent) { e.Server = strings.Repeat("g", 257) }), "event.server is 257 bytes"},
		{"time in the future", event(start, func(e *telemetryv1.ServerEvent) { e.Time = timestamppb.New(now.Add(time.Hour)) }), "event.time"},
		{"client info nested too deep", event(handshake, func(e *telemetryv1.ServerEvent) { e.ClientInfo = nestedValue(33) }), "event.client_info"},
	}
	for _, tt := range events {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.RecordServerEvent(context.Background(), &telemetryv1.RecordServerEventRequest{Event: tt.e})
			wantInvalid(t, err, tt.msg)
		})
	}

	reads := []struct {
		name string
		call func() error
		msg  string
	}{
		{"malformed token", func() error {
			_, err := r.client.ListToolCalls(context.Background(), &telemetryv1.ListToolCallsRequest{PageToken: "nope!"})
			return err
		}, "page_token is malformed"},
		{"negative page size", func() error {
			_, err := r.client.ListToolCalls(context.Background(), &telemetryv1.ListToolCallsRequest{PageSize: -1})
			return err
		}, "page_size must not be negative"},
		{"unknown status filter", func() error {
			_, err := r.client.ListToolCalls(context.Background(), &telemetryv1.ListToolCallsRequest{Status: 5})
			return err
		}, "status 5 is not a known status"},
		{"unknown event kind filter", func() error {
			_, err := r.client.ListServerEvents(context.Background(), &telemetryv1.ListServerEventsRequest{Kind: 5})
			return err
		}, "kind 5 is not a known server event kind"},
		{"summary until before since", func() error {
			_, err := r.client.GetSummary(context.Background(), &telemetryv1.GetSummaryRequest{Since: timestamppb.New(now), Until: timestamppb.New(now.Add(-time.Hour))})
			return err
		}, "must be after since"},
		{"summary bad timestamp", func() error {
			_, err := r.client.GetSummary(context.Background(), &telemetryv1.GetSummaryRequest{Until: &timestamppb.Timestamp{Seconds: -1 << 62}})
			return err
		}, "until:"},
		{"summary tool over 256 bytes", func() error {
			_, err := r.client.GetSummary(context.Background(), &telemetryv1.GetSummaryRequest{Tool: strings.Repeat("t", 257)})
			return err
		}, "tool is 257 bytes"},
	}
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) { wantInvalid(t, tt.call(), tt.msg) })
	}

	// Nothing was recorded.
	if s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}); s.GetToolCalls() != 0 || len(s.GetTools()) != 0 {
		t.Fatalf("refused calls were counted: %v", s)
	}
	if calls := listAll(t, r.client, &telemetryv1.ListToolCallsRequest{}); len(calls) != 0 {
		t.Fatalf("refused calls were stored: %v", calls)
	}
	if resp, err := r.client.ListServerEvents(context.Background(), &telemetryv1.ListServerEventsRequest{}); err != nil || len(resp.GetEvents()) != 0 {
		t.Fatalf("refused events were stored: %v %v", resp, err)
	}
	if _, ok := scrape(t, r.svc)["osiris_tool_calls_total"]; ok {
		t.Fatal("refused calls reached the metrics")
	}

	// Values exactly at the limits are accepted.
	at := with(func(c *telemetryv1.ToolCall) {
		c.Tool, c.Error, c.DurationMs, c.BytesIn = strings.Repeat("t", 256), strings.Repeat("e", 16<<10), 7*24*3600*1000, 1<<40
		c.Time, c.Metadata = timestamppb.New(now.Add(5*time.Minute)), nestedValue(32)
	})
	mustRecord(t, r.client, at)
	if s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}); s.GetToolCalls() != 1 {
		t.Fatalf("the call at the limits was not counted: %v", s)
	}
}
