package telemetry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

var state002Tools = []string{"discovery_request", "oml_validate", "oml_save", "connections_list", "guide_start"}

// state002Call is call i of worker w: known tool, session, status, sizes and duration (a
// multiple of 0.5 ms, so float sums are exact in any order).
func state002Call(w, i int) *telemetryv1.ToolCall {
	status := telemetryv1.CallStatus_CALL_STATUS_OK
	if (w*1000+i)%10 == 0 {
		status = telemetryv1.CallStatus_CALL_STATUS_ERROR
	}
	return &telemetryv1.ToolCall{
		SessionId:     fmt.Sprintf("session-%02d", w),
		CorrelationId: fmt.Sprintf("corr-%d-%d", w, i),
		Tool:          state002Tools[(w+i)%len(state002Tools)],
		Status:        status,
		DurationMs:    float64((w+i)%250) + 0.5,
		BytesIn:       uint64(100 + i),
		BytesOut:      uint64(1000 + 7*w + i%13),
	}
}

// STATE-002: the original mutated a dict of counters from many threads without a lock. Here
// 100 goroutines record 1,000 calls each over gRPC; GetSummary (global, per tool, per
// session) and the Prometheus text on /metrics must both show exactly 100,000 calls and the
// exact sums of errors, bytes and durations.
func TestSTATE002ConcurrentRecordsAreCountedExactly(t *testing.T) {
	const workers, each = 100, 1000
	r := start(t, testConfig(t.TempDir()))

	var global totals
	perTool := map[string]totals{}
	perSession := map[string]totals{}
	for w := range workers {
		for i := range each {
			c := state002Call(w, i)
			global = global.add(c)
			perTool[c.GetTool()] = perTool[c.GetTool()].add(c)
			perSession[c.GetSessionId()] = perSession[c.GetSessionId()].add(c)
		}
	}

	began := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := r.client.RecordToolCall(context.Background(), &telemetryv1.RecordToolCallRequest{Call: state002Call(w, i)}); err != nil {
					t.Errorf("worker %d call %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d calls recorded over gRPC in %s", workers*each, time.Since(began).Round(time.Millisecond))
	if t.Failed() {
		return
	}
	if global.calls != workers*each || global.errors != workers*each/10 {
		t.Fatalf("test data: %d calls, %d errors", global.calls, global.errors)
	}

	checkExactTotals(t, r, global, perTool, perSession, []string{"session-00", "session-42", "session-99"})
}

// checkExactTotals checks that GetSummary (global, per tool, per listed session and with each
// tool filter) and the Prometheus text on /metrics show exactly the expected totals.
func checkExactTotals(t *testing.T, r *running, global totals, perTool, perSession map[string]totals, sessions []string) {
	t.Helper()
	s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{})
	if got := totalsOf(s); got != global {
		t.Fatalf("GetSummary = %+v, want %+v", got, global)
	}
	if len(s.GetTools()) != len(perTool) {
		t.Fatalf("summary has %d tools, want %d", len(s.GetTools()), len(perTool))
	}
	for _, ts := range s.GetTools() {
		if got := toolTotals(ts); got != perTool[ts.GetTool()] {
			t.Fatalf("tool %s = %+v, want %+v", ts.GetTool(), got, perTool[ts.GetTool()])
		}
	}
	for _, session := range sessions {
		got := totalsOf(mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{SessionId: session}))
		if got != perSession[session] {
			t.Fatalf("session %s = %+v, want %+v", session, got, perSession[session])
		}
	}
	for tool, want := range perTool {
		if got := totalsOf(mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{Tool: tool})); got != want {
			t.Fatalf("tool filter %s = %+v, want %+v", tool, got, want)
		}
	}

	families := scrape(t, r.svc)
	for _, c := range []struct {
		name string
		want func(totals) uint64
	}{
		{"osiris_tool_calls_total", func(t totals) uint64 { return t.calls }},
		{"osiris_tool_errors_total", func(t totals) uint64 { return t.errors }},
		{"osiris_tool_bytes_in_total", func(t totals) uint64 { return t.bytesIn }},
		{"osiris_tool_bytes_out_total", func(t totals) uint64 { return t.bytesOut }},
	} {
		got := byTool(t, families, c.name)
		if sum(got) != float64(c.want(global)) {
			t.Fatalf("%s sums to %v, want %d", c.name, sum(got), c.want(global))
		}
		for tool, want := range perTool {
			if got[tool] != float64(c.want(want)) {
				t.Fatalf("%s{tool=%q} = %v, want %d", c.name, tool, got[tool], c.want(want))
			}
		}
	}
	hist := families["osiris_tool_duration_milliseconds"]
	if hist == nil {
		t.Fatal("/metrics has no osiris_tool_duration_milliseconds histogram")
	}
	var count uint64
	var total float64
	for _, m := range hist.GetMetric() {
		count += m.GetHistogram().GetSampleCount()
		total += m.GetHistogram().GetSampleSum()
	}
	if count != global.calls || total != global.durationMs {
		t.Fatalf("duration histogram: count %d sum %v, want %d and %v", count, total, global.calls, global.durationMs)
	}
}
