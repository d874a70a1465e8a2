package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

const started = auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED

func nested(depth int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{"leaf": structpb.NewBoolValue(true)}}
	for range depth - 1 {
		s = &structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewStructValue(s)}}
	}
	return s
}

func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxArgumentsBytes = 4096
	r := start(t, cfg)
	big, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 5000)})
	with := func(f func(e *auditv1.Event)) *auditv1.Event {
		e := event(started, "s", "c", "tool", nil)
		f(e)
		return e
	}
	tests := []struct {
		name string
		e    *auditv1.Event
		code codes.Code
		msg  string
	}{
		{"no event", nil, codes.InvalidArgument, "event is required"},
		{"no type", with(func(e *auditv1.Event) { e.EventType = 0 }), codes.InvalidArgument, "event_type is required"},
		{"unknown type", with(func(e *auditv1.Event) { e.EventType = 99 }), codes.InvalidArgument, "event_type 99 is not a known event type"},
		{"tool over 256 bytes", with(func(e *auditv1.Event) { e.Tool = strings.Repeat("t", 257) }), codes.InvalidArgument, "event.tool is 257 bytes, over the limit of 256"},
		{"session over 256 bytes", with(func(e *auditv1.Event) { e.SessionId = strings.Repeat("s", 300) }), codes.InvalidArgument, "event.session_id is 300 bytes"},
		{"arguments over the limit", with(func(e *auditv1.Event) { e.Arguments = big }), codes.ResourceExhausted, "over the limit of 4096"},
		{"nested too deep", with(func(e *auditv1.Event) { e.Arguments = nested(40) }), codes.InvalidArgument, "nested deeper than 32 levels"},
		{"NaN argument", with(func(e *auditv1.Event) {
			e.Arguments = &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.NaN())}}
		}), codes.InvalidArgument, "event.arguments.x is NaN"},
		{"negative duration", with(func(e *auditv1.Event) { e.DurationMs = -1 }), codes.InvalidArgument, "duration_ms must be a finite number >= 0"},
		{"bytes_in past 2^53-1", with(func(e *auditv1.Event) { e.BytesIn = 1 << 53 }), codes.InvalidArgument, "event.bytes_in is 9007199254740992, over 2^53-1"},
		{"bytes_out past 2^53-1", with(func(e *auditv1.Event) { e.BytesOut = math.MaxUint64 }), codes.InvalidArgument, "event.bytes_out is 18446744073709551615, over 2^53-1"},
		{"client-set seq", with(func(e *auditv1.Event) { e.Seq = 7 }), codes.InvalidArgument, "set by the service"},
		{"client-set time", with(func(e *auditv1.Event) { e.Time = timestamppb.Now() }), codes.InvalidArgument, "set by the service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.Append(context.Background(), &auditv1.AppendRequest{Event: tt.e})
			if st := status.Convert(err); st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("err = %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
		})
	}
	// 31 levels is within the bound.
	mustAppend(t, r.client, with(func(e *auditv1.Event) { e.Arguments = nested(31) }))
	mustVerify(t, r.client, 1) // only the valid event was stored

	listErrs := []struct {
		name string
		req  *auditv1.ListEventsRequest
		msg  string
	}{
		{"malformed token", &auditv1.ListEventsRequest{PageToken: "not-a-token!"}, "page_token is malformed"},
		{"negative page size", &auditv1.ListEventsRequest{PageSize: -1}, "page_size must not be negative"},
		{"bad type filter", &auditv1.ListEventsRequest{EventType: 42}, "event_type 42 is not a known event type"},
		{"until before since", &auditv1.ListEventsRequest{Since: timestamppb.New(time.Unix(100, 0)), Until: timestamppb.New(time.Unix(50, 0))}, "must be after since"},
		{"bad timestamp", &auditv1.ListEventsRequest{Since: &timestamppb.Timestamp{Nanos: -5}}, "since:"},
	}
	for _, tt := range listErrs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.ListEvents(context.Background(), tt.req)
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("err = %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), tt.msg)
			}
		})
	}
	if _, err := r.client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: 99}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetEvent(99) = %v, want NotFound", err)
	}
	if _, err := r.client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: 0}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("GetEvent(0) = %v, want InvalidArgument", err)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	types := []auditv1.EventType{started, auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED}
	for i := range 60 {
		mustAppend(t, r.client, event(types[i%3], fmt.Sprintf("s%d", i%4), fmt.Sprintf("c%d", i/2), fmt.Sprintf("tool%d", i%5), nil))
	}
	count := func(req *auditv1.ListEventsRequest) int { return len(listAll(t, r.client, req)) }
	tests := []struct {
		name string
		req  *auditv1.ListEventsRequest
		want int
	}{
		{"all, small pages", &auditv1.ListEventsRequest{PageSize: 7}, 60},
		{"session", &auditv1.ListEventsRequest{SessionId: "s1", PageSize: 4}, 15},
		{"correlation", &auditv1.ListEventsRequest{CorrelationId: "c3"}, 2},
		{"tool", &auditv1.ListEventsRequest{Tool: "tool2", PageSize: 5}, 12},
		{"type", &auditv1.ListEventsRequest{EventType: types[1], PageSize: 3}, 20},
		{"session and type", &auditv1.ListEventsRequest{SessionId: "s0", EventType: types[0]}, 5},
		{"session and tool", &auditv1.ListEventsRequest{SessionId: "s2", Tool: "tool0"}, 3},
		{"no match", &auditv1.ListEventsRequest{SessionId: "nobody"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(tt.req); got != tt.want {
				t.Fatalf("%d events, want %d", got, tt.want)
			}
		})
	}
	// A token is bound to its filters.
	resp, err := r.client.ListEvents(context.Background(), &auditv1.ListEventsRequest{SessionId: "s1", PageSize: 2})
	if err != nil || resp.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, token %q", err, resp.GetNextPageToken())
	}
	_, err = r.client.ListEvents(context.Background(), &auditv1.ListEventsRequest{SessionId: "s2", PageToken: resp.GetNextPageToken()})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "different filters") {
		t.Fatalf("token reused with other filters: %v", err)
	}
}

// Time ranges use the service's clock; when the wall clock is set back, event times still
// never decrease along the log, so a range query stays correct.
func TestTimeRangeWithClockSetBack(t *testing.T) {
	clk := &hostClock{wall: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	cfg := testConfig(t.TempDir())
	clk.drive(&cfg)
	r := start(t, cfg)

	for i := range 10 { // one event a minute, 12:00 to 12:09
		if i > 0 {
			clk.run(time.Minute)
		}
		mustAppend(t, r.client, event(started, "s", "", "t", nil))
	}
	clk.step(-time.Hour) // clock set back an hour
	mustAppend(t, r.client, event(started, "s", "", "t", nil))
	last, err := r.client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: 11})
	if err != nil {
		t.Fatal(err)
	}
	if got := last.GetTime().AsTime(); !got.Equal(time.Date(2026, 1, 1, 12, 9, 0, 0, time.UTC)) {
		t.Fatalf("time of an event after the clock went back = %v, want the previous event's time", got)
	}
	got := listAll(t, r.client, &auditv1.ListEventsRequest{
		Since: timestamppb.New(time.Date(2026, 1, 1, 12, 3, 0, 0, time.UTC)),
		Until: timestamppb.New(time.Date(2026, 1, 1, 12, 6, 0, 0, time.UTC)),
	})
	if len(got) != 3 || got[0].GetSeq() != 4 || got[2].GetSeq() != 6 {
		t.Fatalf("range 12:03-12:06 gave %d events starting at %d", len(got), got[0].GetSeq())
	}
	mustVerify(t, r.client, 11)
}

// Issue 11, part 6. Non-decreasing times used to pin every event to the highest wall time
// seen: after the wall clock jumped a year ahead and was corrected, every event for a year
// was dated the same instant a year away. Now times follow the monotonic clock from start,
// never decrease, and a restart continues from the last event's time.
func TestEventTimesIgnoreACorrectedForwardJump(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := &hostClock{wall: t0}
	dir := t.TempDir()
	cfg := testConfig(dir)
	clk.drive(&cfg)
	r := start(t, cfg)
	mustAppend(t, r.client, event(started, "s", "", "t", nil)) // 12:00:00
	clk.step(365 * 24 * time.Hour)
	clk.run(time.Second)
	mustAppend(t, r.client, event(started, "s", "", "t", nil)) // 12:00:01
	clk.step(-365 * 24 * time.Hour)
	clk.run(time.Second)
	mustAppend(t, r.client, event(started, "s", "", "t", nil)) // 12:00:02
	clk.run(time.Second)
	clk.step(-time.Hour)
	mustAppend(t, r.client, event(started, "s", "", "t", nil)) // 12:00:03
	r.stop(t)
	r = start(t, cfg)                                          // the wall clock is still an hour behind: continue from the last event
	mustAppend(t, r.client, event(started, "s", "", "t", nil)) // 12:00:03
	clk.run(time.Second)
	mustAppend(t, r.client, event(started, "s", "", "t", nil)) // 12:00:04
	events := listAll(t, r.client, &auditv1.ListEventsRequest{})
	for i, want := range []time.Duration{0, 1, 2, 3, 3, 4} {
		if got := events[i].GetTime().AsTime(); !got.Equal(t0.Add(want * time.Second)) {
			t.Errorf("event %d dated %v, want %v", events[i].GetSeq(), got, t0.Add(want*time.Second))
		}
	}
	mustVerify(t, r.client, 6)
}

func TestTailFollowsNewEventsAndEndsAtShutdown(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	for i := range 3 {
		mustAppend(t, r.client, event(started, "tail", fmt.Sprintf("old%d", i), "t", nil))
	}
	mustAppend(t, r.client, event(started, "other", "x", "t", nil))
	stream, err := r.client.TailEvents(context.Background(), &auditv1.TailEventsRequest{AfterSeq: 1, SessionId: "tail"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"old1", "old2", "new0", "new1", "new2"}
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := range 3 { // t.Fatal must not be called off the test's goroutine
			for _, e := range []*auditv1.Event{event(started, "other", "y", "t", nil), event(started, "tail", fmt.Sprintf("new%d", i), "t", nil)} {
				if _, err := r.client.Append(context.Background(), &auditv1.AppendRequest{Event: e}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}
	}()
	for _, w := range want {
		e, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if e.GetCorrelationId() != w || e.GetSessionId() != "tail" {
			t.Fatalf("tail sent %s of session %s, want %s", e.GetCorrelationId(), e.GetSessionId(), w)
		}
	}
	// A tail sends an event once it is durable, which can be before that Append's reply has
	// reached the appender: let the appends finish before shutting down.
	<-appended
	r.cancel() // shut the service down; the client connection stays open
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("tail at shutdown ended with %v, want Unavailable", err)
	}
}

func TestExportOverRESTIsJSONLWithOriginalFieldNames(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	e := event(started, "s1", "c1", "discovery_request", map[string]any{"connection": "@mysql.main", "samples": 10})
	e.BytesIn = 57
	mustAppend(t, r.client, e)
	f := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, "s1", "c1", "discovery_request", nil)
	f.ErrorCode, f.ErrorMessage, f.DurationMs = "timeout", "took too long", 30000
	mustAppend(t, r.client, f)
	mustAppend(t, r.client, event(started, "s2", "c2", "other", nil))

	resp, err := httpClient().Get("http://" + r.svc.HTTPAddr() + "/v1/audit/events:export?sessionId=s1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("export status %d", resp.StatusCode)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines for session s1, want 2", len(lines))
	}
	if lines[0]["event"] != "tool_call_started" || lines[0]["bytes_in"] != 57.0 || lines[0]["correlation_id"] != "c1" ||
		lines[0]["arguments"].(map[string]any)["connection"] != "@mysql.main" || lines[0]["timestamp"] == nil {
		t.Fatalf("first line %v", lines[0])
	}
	if lines[1]["event"] != "tool_call_failed" || lines[1]["error_code"] != "timeout" || lines[1]["error"] != "took too long" || lines[1]["duration_ms"] != 30000.0 {
		t.Fatalf("second line %v", lines[1])
	}
}
