package telemetry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

func recordAt(t *testing.T, c telemetryv1.TelemetryServiceClient, n int, at time.Time, session string) {
	t.Helper()
	for i := range n {
		call := okCall(session, fmt.Sprintf("tool%d", i%2), 10)
		call.Time = timestamppb.New(at)
		call.BytesIn = 100
		mustRecord(t, c, call)
	}
}

// Retention deletes raw call records older than the retention age by the service's clock,
// in chunks, with their index entries; the totals and the time buckets keep counting them.
func TestRetentionDeletesOldRecordsAndKeepsTotals(t *testing.T) {
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	clk := newClock(now)
	cfg := testConfig(t.TempDir())
	cfg.Now, cfg.RetentionChunk = clk.Now, 7 // 25 old records take four chunks
	r := start(t, cfg)

	recordAt(t, r.client, 25, now.Add(-40*24*time.Hour), "old")
	recordAt(t, r.client, 10, now.Add(-29*24*time.Hour), "recent")
	recordAt(t, r.client, 5, now, "recent")
	count := func(req *telemetryv1.ListToolCallsRequest) int { return len(listAll(t, r.client, req)) }
	checkTotals := func() {
		t.Helper()
		s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{})
		if s.GetToolCalls() != 40 || s.GetBytesIn() != 4000 {
			t.Fatalf("totals after retention: %d calls, %d bytes in; want 40 and 4000", s.GetToolCalls(), s.GetBytesIn())
		}
		old := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{SessionId: "old",
			Since: timestamppb.New(now.Add(-41 * 24 * time.Hour)), Until: timestamppb.New(now.Add(-39 * 24 * time.Hour))})
		if old.GetToolCalls() != 25 {
			t.Fatalf("window over the deleted records counts %d calls, want 25", old.GetToolCalls())
		}
	}

	deleted, err := r.svc.Retain(context.Background())
	if err != nil || deleted != 25 {
		t.Fatalf("retain at day 0 = %d, %v; want 25 deleted", deleted, err)
	}
	if n := count(&telemetryv1.ListToolCallsRequest{}); n != 15 {
		t.Fatalf("%d records left, want 15", n)
	}
	for _, req := range []*telemetryv1.ListToolCallsRequest{{SessionId: "old"}, {Tool: "tool0", Until: timestamppb.New(now.Add(-35 * 24 * time.Hour))}} {
		if n := count(req); n != 0 {
			t.Fatalf("index %v still lists %d deleted records", req, n)
		}
	}
	checkTotals()

	if deleted, err := r.svc.Retain(context.Background()); err != nil || deleted != 0 {
		t.Fatalf("second retain at day 0 = %d, %v; want nothing", deleted, err)
	}
	clk.Advance(2 * 24 * time.Hour) // the 29-day-old records are now 31 days old
	if deleted, err := r.svc.Retain(context.Background()); err != nil || deleted != 10 {
		t.Fatalf("retain at day 2 = %d, %v; want 10", deleted, err)
	}
	if n := count(&telemetryv1.ListToolCallsRequest{SessionId: "recent"}); n != 5 {
		t.Fatalf("%d recent records left, want 5", n)
	}
	checkTotals()
}

// The ticker submits retention to the writer by itself.
func TestRetentionRunsPeriodically(t *testing.T) {
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	cfg := testConfig(t.TempDir())
	cfg.Now, cfg.RetentionInterval, cfg.Retention = newClock(now).Now, 20*time.Millisecond, 24*time.Hour
	r := start(t, cfg)
	recordAt(t, r.client, 3, now.Add(-25*time.Hour), "old")
	recordAt(t, r.client, 2, now.Add(-23*time.Hour), "young")
	deadline := time.Now().Add(10 * time.Second)
	for len(listAll(t, r.client, &telemetryv1.ListToolCallsRequest{})) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the periodic retention did not delete the records older than a day within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(listAll(t, r.client, &telemetryv1.ListToolCallsRequest{SessionId: "young"})); n != 2 {
		t.Fatalf("retention deleted young records: %d left", n)
	}
}
