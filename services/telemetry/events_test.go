package telemetry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

func mustEvent(t *testing.T, c telemetryv1.TelemetryServiceClient, e *telemetryv1.ServerEvent) *telemetryv1.RecordServerEventResponse {
	t.Helper()
	resp, err := c.RecordServerEvent(context.Background(), &telemetryv1.RecordServerEventRequest{Event: e})
	if err != nil {
		t.Fatalf("record event %v: %v", e, err)
	}
	return resp
}

// Start, handshake and stop events are stored and listable; start and stop carry the global
// totals at that moment, so the stop summary is never the all-zero one of the original.
func TestServerEventsCarryTotalsAndAreListable(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	const (
		start     = telemetryv1.ServerEventKind_SERVER_EVENT_KIND_START
		stop      = telemetryv1.ServerEventKind_SERVER_EVENT_KIND_STOP
		handshake = telemetryv1.ServerEventKind_SERVER_EVENT_KIND_HANDSHAKE
	)
	first := mustEvent(t, r.client, &telemetryv1.ServerEvent{Kind: start, Server: "gw-1", Version: "0.5.0", ProtocolVersion: "2025-06-18"})
	if first.GetSeq() != 1 || first.GetTotals().GetToolCalls() != 0 || first.GetTime() == nil {
		t.Fatalf("start = %v, want seq 1, zero totals and a time", first)
	}
	info, _ := structpb.NewValue(map[string]any{"name": "claude-code", "version": "2.0"})
	mustEvent(t, r.client, &telemetryv1.ServerEvent{Kind: handshake, Server: "gw-1", SessionId: "mcp-1", DurationMs: 12.5, Success: true, ClientInfo: info})
	mustEvent(t, r.client, &telemetryv1.ServerEvent{Kind: handshake, Server: "gw-2", DurationMs: 40, Success: false})
	for i := range 4 {
		c := okCall("mcp-1", "oml_validate", 10)
		c.BytesIn, c.BytesOut = 100, 1000
		if i == 3 {
			c.Status = telemetryv1.CallStatus_CALL_STATUS_ERROR
		}
		mustRecord(t, r.client, c)
	}
	last := mustEvent(t, r.client, &telemetryv1.ServerEvent{Kind: stop, Server: "gw-1", Reason: "SIGTERM"})
	want := &telemetryv1.Totals{ToolCalls: 4, Errors: 1, BytesIn: 400, BytesOut: 4000, TotalDurationMs: 40}
	if !proto.Equal(last.GetTotals(), want) {
		t.Fatalf("stop totals = %v, want %v", last.GetTotals(), want)
	}

	list := func(req *telemetryv1.ListServerEventsRequest) []*telemetryv1.ServerEvent {
		var out []*telemetryv1.ServerEvent
		for {
			resp, err := r.client.ListServerEvents(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, resp.GetEvents()...)
			if resp.GetNextPageToken() == "" {
				return out
			}
			req.PageToken = resp.GetNextPageToken()
		}
	}
	all := list(&telemetryv1.ListServerEventsRequest{PageSize: 1})
	if len(all) != 4 {
		t.Fatalf("%d events listed, want 4", len(all))
	}
	for i, e := range all {
		if e.GetSeq() != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.GetSeq())
		}
	}
	if got := all[3]; got.GetReason() != "SIGTERM" || !proto.Equal(got.GetTotals(), want) {
		t.Fatalf("stored stop event %v", got)
	}
	if got := all[1]; got.GetClientInfo().GetStructValue().GetFields()["name"].GetStringValue() != "claude-code" || got.GetDurationMs() != 12.5 || !got.GetSuccess() {
		t.Fatalf("stored handshake %v", got)
	}
	if hs := list(&telemetryv1.ListServerEventsRequest{Kind: handshake}); len(hs) != 2 {
		t.Fatalf("%d handshakes, want 2", len(hs))
	}
	if gw1 := list(&telemetryv1.ListServerEventsRequest{Server: "gw-1"}); len(gw1) != 3 {
		t.Fatalf("%d events of gw-1, want 3", len(gw1))
	}
}

// Attachments over 4096 bytes of JSON become their first 2048 characters plus the marker,
// as in the original; smaller ones are kept whole. Secrets in attachments and errors are
// masked before they are stored.
func TestAttachmentsAreTruncatedAndRedacted(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	small, _ := structpb.NewValue(map[string]any{"rows": 3, "password": "hunter2"})
	big, _ := structpb.NewValue(map[string]any{"blob": strings.Repeat("é", 3000)}) // multi-byte characters
	c1 := okCall("s", "a", 1)
	c1.Metadata, c1.Error = small, "auth failed with token ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	c2 := okCall("s", "b", 1)
	c2.Metadata = big
	mustRecord(t, r.client, c1)
	mustRecord(t, r.client, c2)
	hs := &telemetryv1.ServerEvent{Kind: telemetryv1.ServerEventKind_SERVER_EVENT_KIND_HANDSHAKE, ClientInfo: big}
	mustEvent(t, r.client, hs)

	calls := listAll(t, r.client, &telemetryv1.ListToolCallsRequest{SessionId: "s"})
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	kept := calls[0].GetMetadata().GetStructValue().GetFields()
	if kept["rows"].GetNumberValue() != 3 || kept["password"].GetStringValue() != "***MASKED***" {
		t.Fatalf("small metadata stored as %v", calls[0].GetMetadata())
	}
	if strings.Contains(calls[0].GetError(), "ghp_") {
		t.Fatalf("token in the error was stored: %q", calls[0].GetError())
	}
	// {"blob":"éé…"}: 9 bytes of JSON around 3000 two-byte characters.
	wantText := `{"blob":"` + strings.Repeat("é", 2048-9) + fmt.Sprintf("... [TRUNCATED: %d bytes total]", 9+2*3000+2)
	if got := calls[1].GetMetadata().GetStringValue(); got != wantText {
		t.Fatalf("big metadata stored as %d characters ending %q, want %d ending %q",
			len([]rune(got)), got[max(0, len(got)-40):], len([]rune(wantText)), wantText[len(wantText)-40:])
	}
	resp, err := r.client.ListServerEvents(context.Background(), &telemetryv1.ListServerEventsRequest{})
	if err != nil || len(resp.GetEvents()) != 1 || resp.GetEvents()[0].GetClientInfo().GetStringValue() != wantText {
		t.Fatalf("big client info stored as %v (%v)", resp.GetEvents(), err)
	}
}
