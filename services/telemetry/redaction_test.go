package telemetry_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/redact/redacttest"
)

// caseValue is case c as an attachment: the string, or the list as it arrives.
func caseValue(t *testing.T, c redacttest.Case) *structpb.Value {
	t.Helper()
	var v any = c.Text
	if c.List != nil {
		list := make([]any, len(c.List))
		for i, s := range c.List {
			list[i] = s
		}
		v = list
	}
	pv, err := structpb.NewValue(map[string]any{"detail": v})
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// TestCorpusIsMaskedInEveryReadAndEveryFile records the redaction corpus in every free-text
// field of a tool call (error, metadata) and of server events (a stop's reason, a
// handshake's client_info, metadata), then looks for every piece of every secret in the
// list APIs over gRPC and REST, in the raw bytes of every file of the data directory, and in
// every version of every Badger key and value.
func TestCorpusIsMaskedInEveryReadAndEveryFile(t *testing.T) {
	cases := redacttest.Corpus()
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	ctx := context.Background()
	for i, c := range cases {
		call := &telemetryv1.ToolCall{Tool: "run", CorrelationId: fmt.Sprintf("case-%d", i),
			Status: telemetryv1.CallStatus_CALL_STATUS_ERROR, Metadata: caseValue(t, c)}
		hs := &telemetryv1.ServerEvent{Kind: telemetryv1.ServerEventKind_SERVER_EVENT_KIND_HANDSHAKE, Server: "s",
			ClientInfo: caseValue(t, c), Metadata: caseValue(t, c)}
		if c.List == nil {
			call.Error = c.Text
		}
		mustRecord(t, r.client, call)
		events := []*telemetryv1.ServerEvent{hs}
		if c.List == nil {
			events = append(events, &telemetryv1.ServerEvent{Kind: telemetryv1.ServerEventKind_SERVER_EVENT_KIND_STOP, Server: "s", Reason: c.Text})
		}
		for _, e := range events {
			if _, err := r.client.RecordServerEvent(ctx, &telemetryv1.RecordServerEventRequest{Event: e}); err != nil {
				t.Fatalf("%s: record event: %v", c.Class, err)
			}
		}
	}

	var got []byte
	var calls int
	for token := ""; ; {
		resp, err := r.client.ListToolCalls(ctx, &telemetryv1.ListToolCallsRequest{PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.GetCalls() {
			got = append(got, redacttest.JSON(t, c)...)
			calls++
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if calls != len(cases) {
		t.Fatalf("ListToolCalls gave %d calls, want %d", calls, len(cases))
	}
	redacttest.CheckJSON(t, "ListToolCalls", got, cases)

	got = nil
	for token := ""; ; {
		resp, err := r.client.ListServerEvents(ctx, &telemetryv1.ListServerEventsRequest{PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEvents() {
			got = append(got, redacttest.JSON(t, e)...)
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	redacttest.CheckJSON(t, "ListServerEvents", got, cases)

	base := "http://" + r.svc.HTTPAddr()
	for _, path := range []string{"/v1/telemetry/tool-calls?pageSize=1000", "/v1/telemetry/server-events?pageSize=1000"} {
		redacttest.CheckJSON(t, "REST "+path, redacttest.GET(t, base+path), cases)
	}

	r.stop(t)
	if files := redacttest.CheckDir(t, dir, cases); files == 0 {
		t.Fatalf("no files in %s", dir)
	}
	redacttest.CheckBadger(t, dir, cases)
}
