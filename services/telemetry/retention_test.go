package telemetry_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
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
// in chunks, with their index entries; the all-time totals keep counting them, while the
// time buckets of the deleted span go too (issue 11, part 8), so a window older than the
// retention age counts nothing.
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
		if old.GetToolCalls() != 0 {
			t.Fatalf("window older than the retention counts %d calls, want 0", old.GetToolCalls())
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

// Issue 11, part 8: retention used to delete call records only, so the per-session totals
// and the time buckets (per tool and per session and tool) grew forever. Now buckets older
// than the retention age and the totals of sessions with none left are deleted (counted in
// Badger itself), the global and per-tool totals stay exact, and summaries within the
// retention age are unchanged.
func TestRetentionDeletesOldAggregates(t *testing.T) {
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Now, cfg.RetentionChunk = newClock(now).Now, 3 // several chunks of aggregates
	r := start(t, cfg)
	for d := range 5 { // 5 old sessions on 5 days, 40 days ago
		recordAt(t, r.client, 2, now.Add(-time.Duration(40+d)*24*time.Hour), fmt.Sprintf("old%d", d))
	}
	recordAt(t, r.client, 4, now.Add(-29*24*time.Hour), "recent")
	recordAt(t, r.client, 4, now.Add(-time.Hour), "recent")
	recordAt(t, r.client, 2, now.Add(-50*24*time.Hour), "s-old0") // sorts after the live "recent" (same length)
	window := &telemetryv1.GetSummaryRequest{Since: timestamppb.New(now.Add(-30 * 24 * time.Hour))}
	windows := []*telemetryv1.GetSummaryRequest{{}, {SessionId: "recent"}, window,
		{SessionId: "recent", Since: window.GetSince()}, {Tool: "tool1", Since: window.GetSince()}}
	var before []*telemetryv1.GetSummaryResponse
	for _, w := range windows {
		before = append(before, mustSummary(t, r.client, w))
	}
	if deleted, err := r.svc.Retain(context.Background()); err != nil || deleted != 12 {
		t.Fatalf("retain = %d, %v; want 12 records deleted", deleted, err)
	}
	for i, w := range windows {
		if got := mustSummary(t, r.client, w); !proto.Equal(got, before[i]) {
			t.Fatalf("summary %v changed by retention:\n%v\nwant\n%v", w, got, before[i])
		}
	}
	r.stop(t)

	keys := aggregateKeys(t, dir)
	for _, session := range []string{"old0", "old1", "old2", "old3", "old4", "s-old0"} {
		if n := keys["s/"+session] + keys["v/"+session]; n != 0 {
			t.Errorf("session %s keeps %d aggregates after retention", session, n)
		}
	}
	// recent: totals for 2 tools; minute buckets for 2 tools at 2 times.
	if keys["s/recent"] != 2 || keys["v/recent"] != 4 {
		t.Errorf("session recent has %d totals and %d buckets, want 2 and 4", keys["s/recent"], keys["v/recent"])
	}
	// Per tool: 2 tools x 3 levels x 2 times; global and per-tool totals: 1 + 2.
	if keys["w"] != 12 || keys["g"] != 1 || keys["t"] != 2 || len(keys) != 5 {
		t.Errorf("aggregate keys %v; want 12 per-tool buckets, 1 global, 2 per-tool totals, and recent's", keys)
	}
}

// aggregateKeys counts the aggregate keys in the store of dir (with the service stopped) by
// kind ("g", "t", "w") and, for the per-session kinds, by kind and session ("s/old0").
func aggregateKeys(t *testing.T, dir string) map[string]int {
	t.Helper()
	db, err := badgerdb.Open(dir, badgerdb.Options{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counts := map[string]int{}
	err = db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte{'a'}, false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			kind := string(k[1])
			if kind == "s" || kind == "v" {
				n := int(binary.BigEndian.Uint16(k[2:]))
				kind += "/" + string(k[4:4+n])
			}
			counts[kind]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}
