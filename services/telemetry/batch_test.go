package telemetry_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// maxBatchCalls is recorder.MaxBatchCalls, the documented limit of calls per request.
const maxBatchCalls = 1000

func recordBatch(t testing.TB, c telemetryv1.TelemetryServiceClient, calls ...*telemetryv1.ToolCall) *telemetryv1.RecordToolCallsResponse {
	t.Helper()
	resp, err := c.RecordToolCalls(context.Background(), &telemetryv1.RecordToolCallsRequest{Calls: calls})
	if err != nil {
		t.Fatalf("record batch of %d: %v", len(calls), err)
	}
	return resp
}

// A batch is validated whole before anything is recorded: one bad call among good ones is
// refused with INVALID_ARGUMENT naming its index, and nothing of the batch is stored, counted,
// measured or remembered for dedupe; so are an empty batch and one over the limit. A batch of
// exactly the limit is accepted.
func TestRecordToolCallsBadBatchRecordsNothing(t *testing.T) {
	now := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	cfg := testConfig(t.TempDir())
	cfg.Now = newClock(now).Now
	r := start(t, cfg)
	good := func(n int) []*telemetryv1.ToolCall {
		calls := make([]*telemetryv1.ToolCall, n)
		for i := range calls {
			calls[i] = okCall("s", "tool", 5)
			calls[i].CorrelationId = fmt.Sprintf("good-%d", i)
		}
		return calls
	}
	with := func(n, bad int, f func(c *telemetryv1.ToolCall)) []*telemetryv1.ToolCall {
		calls := good(n)
		f(calls[bad])
		return calls
	}
	tests := []struct {
		name  string
		calls []*telemetryv1.ToolCall
		msg   string
	}{
		{"negative duration at 3", with(6, 3, func(c *telemetryv1.ToolCall) { c.DurationMs = -1 }), "calls[3].duration_ms must be a finite number >= 0, got -1"},
		{"NaN duration first", with(6, 0, func(c *telemetryv1.ToolCall) { c.DurationMs = math.NaN() }), "calls[0].duration_ms must be a finite number"},
		{"no tool last", with(6, 5, func(c *telemetryv1.ToolCall) { c.Tool = "" }), "calls[5].tool is required"},
		{"unknown status", with(4, 2, func(c *telemetryv1.ToolCall) { c.Status = 7 }), "calls[2].status 7 is not a known status"},
		{"client-set seq", with(4, 1, func(c *telemetryv1.ToolCall) { c.Seq = 9 }), "calls[1].seq is set by the service"},
		{"correlation id over 256 bytes", with(4, 1, func(c *telemetryv1.ToolCall) { c.CorrelationId = strings.Repeat("c", 257) }), "calls[1].correlation_id is 257 bytes, over the limit of 256"},
		{"time in the future", with(4, 2, func(c *telemetryv1.ToolCall) { c.Time = timestamppb.New(now.Add(time.Hour)) }), "calls[2].time"},
		{"bytes over 1 TiB", with(4, 3, func(c *telemetryv1.ToolCall) { c.BytesOut = 1<<40 + 1 }), "calls[3].bytes_out is 1099511627777, over the limit"},
		{"empty", nil, "calls is empty; send at least one call"},
		{"over the limit", good(maxBatchCalls + 1), fmt.Sprintf("calls holds %d calls, over the limit of %d per request", maxBatchCalls+1, maxBatchCalls)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.client.RecordToolCalls(context.Background(), &telemetryv1.RecordToolCallsRequest{Calls: tt.calls})
			wantInvalid(t, err, tt.msg)
		})
	}

	if s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}); s.GetToolCalls() != 0 || len(s.GetTools()) != 0 {
		t.Fatalf("calls of refused batches were counted: %v", s)
	}
	if calls := listAll(t, r.client, &telemetryv1.ListToolCallsRequest{}); len(calls) != 0 {
		t.Fatalf("calls of refused batches were stored: %d", len(calls))
	}
	if _, ok := scrape(t, r.svc)["osiris_tool_calls_total"]; ok {
		t.Fatal("calls of refused batches reached the metrics")
	}

	// Exactly the limit is accepted, and the good calls of the refused batches were not
	// remembered: none of them is a duplicate now.
	resp := recordBatch(t, r.client, good(maxBatchCalls)...)
	if resp.GetRecorded() != maxBatchCalls || resp.GetDuplicates() != 0 || len(resp.GetSeqs()) != maxBatchCalls {
		t.Fatalf("batch at the limit: recorded %d, duplicates %d, %d seqs", resp.GetRecorded(), resp.GetDuplicates(), len(resp.GetSeqs()))
	}
	for i, seq := range resp.GetSeqs() {
		if seq != uint64(i+1) {
			t.Fatalf("seqs[%d] = %d, want %d (in request order)", i, seq, i+1)
		}
	}
	if s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}); s.GetToolCalls() != maxBatchCalls {
		t.Fatalf("summary counts %d calls after a batch of %d", s.GetToolCalls(), maxBatchCalls)
	}
}

// 32 goroutines each send 10 batches of 100 calls at once; GetSummary (global, per tool, per
// session) and /metrics show exactly the 32,000 calls and their sums, as for single records.
func TestRecordToolCallsConcurrentBatchesAreCountedExactly(t *testing.T) {
	const workers, batches, size = 32, 10, 100
	r := start(t, testConfig(t.TempDir()))
	var global totals
	perTool, perSession := map[string]totals{}, map[string]totals{}
	for w := range workers {
		for i := range batches * size {
			c := state002Call(w, i)
			global = global.add(c)
			perTool[c.GetTool()] = perTool[c.GetTool()].add(c)
			perSession[c.GetSessionId()] = perSession[c.GetSessionId()].add(c)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				calls := make([]*telemetryv1.ToolCall, size)
				for k := range calls {
					calls[k] = state002Call(w, b*size+k)
				}
				resp, err := r.client.RecordToolCalls(context.Background(), &telemetryv1.RecordToolCallsRequest{Calls: calls})
				if err != nil {
					t.Errorf("worker %d batch %d: %v", w, b, err)
					return
				}
				if resp.GetRecorded() != size || resp.GetDuplicates() != 0 {
					t.Errorf("worker %d batch %d: recorded %d, duplicates %d", w, b, resp.GetRecorded(), resp.GetDuplicates())
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if global.calls != workers*batches*size {
		t.Fatalf("test data: %d calls", global.calls)
	}
	checkExactTotals(t, r, global, perTool, perSession, []string{"session-00", "session-17", "session-31"})
}

// A call is counted once per correlation id: sent again alone or in a batch, or twice in one
// batch, it is reported as a duplicate with the first call's seq and not counted again, also
// after a restart. Calls without a correlation id are never deduplicated.
func TestCallsAreRecordedOncePerCorrelationID(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	withID := func(id string, d float64) *telemetryv1.ToolCall {
		c := okCall("s", "tool", d)
		c.CorrelationId = id
		return c
	}

	first := mustRecord(t, r.client, withID("c-1", 1))
	again := mustRecord(t, r.client, withID("c-1", 100)) // what a resend carries does not matter
	if first.GetDuplicate() || !again.GetDuplicate() || again.GetSeq() != first.GetSeq() || !again.GetTime().AsTime().Equal(first.GetTime().AsTime()) {
		t.Fatalf("first %v, again %v: want the second a duplicate with the first's seq and time", first, again)
	}

	batch := []*telemetryv1.ToolCall{withID("c-2", 2), withID("c-1", 1), withID("c-2", 2), withID("", 4), withID("", 4)}
	resp := recordBatch(t, r.client, batch...)
	if resp.GetRecorded() != 3 || resp.GetDuplicates() != 2 || fmt.Sprint(resp.GetSeqs()) != "[2 1 2 3 4]" {
		t.Fatalf("batch: recorded %d, duplicates %d, seqs %v; want 3, 2, [2 1 2 3 4]", resp.GetRecorded(), resp.GetDuplicates(), resp.GetSeqs())
	}
	resp = recordBatch(t, r.client, batch...) // a resend: only the calls without an id count again
	if resp.GetRecorded() != 2 || resp.GetDuplicates() != 3 || fmt.Sprint(resp.GetSeqs()) != "[2 1 2 5 6]" {
		t.Fatalf("resent batch: recorded %d, duplicates %d, seqs %v; want 2, 3, [2 1 2 5 6]", resp.GetRecorded(), resp.GetDuplicates(), resp.GetSeqs())
	}

	want := totals{calls: 6, durationMs: 1 + 2 + 4*4}
	check := func(when string) {
		t.Helper()
		if got := totalsOf(mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{})); got != want {
			t.Fatalf("%s: totals %+v, want %+v", when, got, want)
		}
		for _, id := range []string{"c-1", "c-2"} {
			if calls := listAll(t, r.client, &telemetryv1.ListToolCallsRequest{CorrelationId: id}); len(calls) != 1 {
				t.Fatalf("%s: %d calls stored under %s, want 1", when, len(calls), id)
			}
		}
	}
	check("before restart")
	if got := byTool(t, scrape(t, r.svc), "osiris_tool_calls_total")["tool"]; got != 6 {
		t.Fatalf("osiris_tool_calls_total{tool=\"tool\"} = %v, want 6: duplicates reached the metrics", got)
	}

	r.stop(t)
	r = start(t, testConfig(dir))
	if resp := mustRecord(t, r.client, withID("c-2", 2)); !resp.GetDuplicate() || resp.GetSeq() != 2 {
		t.Fatalf("c-2 after a restart: %v, want a duplicate of seq 2", resp)
	}
	check("after restart")
}
