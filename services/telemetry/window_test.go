package telemetry_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// exactQuantile is the value of rank q·(n-1) (rounded down): the value the sketch's 1%
// guarantee refers to.
func exactQuantile(durations []float64, q float64) float64 {
	s := slices.Sorted(slices.Values(durations))
	return s[int(q*float64(len(s)-1))]
}

func checkPercentiles(t *testing.T, what string, s *telemetryv1.GetSummaryResponse, durations []float64) {
	t.Helper()
	for _, p := range []struct {
		q   float64
		got float64
	}{{0.50, s.GetP50Ms()}, {0.95, s.GetP95Ms()}, {0.99, s.GetP99Ms()}} {
		want := exactQuantile(durations, p.q)
		if rel := math.Abs(p.got-want) / want; rel > 0.01 {
			t.Errorf("%s: p%.0f = %.4f ms, exact %.4f ms: relative error %.4f over 1%%", what, p.q*100, p.got, want, rel)
		}
	}
}

// Windows of every shape (unaligned, open at either end, spanning days, filtered by session
// and tool) are answered from minute, hour and day buckets; the answer must equal the brute
// force sum over the calls whose time lies in the window widened to whole minutes, and the
// response must say which window it used.
func TestSummaryWindowsEqualBruteForce(t *testing.T) {
	now := time.Date(2026, 3, 10, 22, 30, 0, 0, time.UTC)
	cfg := testConfig(t.TempDir())
	cfg.Now = newClock(now).Now
	r := start(t, cfg)

	// 500 calls, one every 23 minutes and 7 seconds going back about eight days, plus two
	// calls a little in the future (allowed up to five minutes).
	var calls []*telemetryv1.ToolCall
	for k := range 500 {
		at := now.Add(-time.Duration(k) * (23*time.Minute + 7*time.Second))
		c := okCall(fmt.Sprintf("s%d", k%3), fmt.Sprintf("tool%d", k%4), float64(1+k%97))
		c.Time, c.BytesIn, c.BytesOut = timestamppb.New(at), uint64(k), uint64(2*k)
		if k%9 == 0 {
			c.Status = telemetryv1.CallStatus_CALL_STATUS_ERROR
		}
		calls = append(calls, c)
	}
	for _, d := range []time.Duration{90 * time.Second, 4 * time.Minute} {
		c := okCall("s0", "tool0", 3)
		c.Time = timestamppb.New(now.Add(d))
		calls = append(calls, c)
	}
	for _, c := range calls {
		mustRecord(t, r.client, c)
	}

	at := func(d time.Duration) time.Time { return now.Add(d) }
	var zero time.Time
	windows := []struct {
		name, session, tool string
		since, until        time.Time
	}{
		{"last hour", "", "", at(-time.Hour), zero},
		{"unaligned, within an hour", "", "", at(-47*time.Minute - 13*time.Second), at(-11*time.Minute - 59*time.Second)},
		{"unaligned, three days", "", "", at(-75*time.Hour - 31*time.Minute), at(-2*time.Hour - 5*time.Second)},
		{"whole days", "", "", time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
		{"open start", "", "", zero, at(-5 * 24 * time.Hour)},
		{"open end, includes the future calls", "", "", at(-30 * time.Minute), zero},
		{"everything by window", "", "", time.Unix(0, 0), at(time.Hour)},
		{"tool, days", "", "tool2", at(-6 * 24 * time.Hour), at(-17 * time.Hour)},
		{"session, days", "s1", "", at(-100*time.Hour - 3*time.Minute), at(-time.Minute)},
		{"session and tool, unaligned", "s2", "tool1", at(-50*time.Hour - 30*time.Second), at(-49 * time.Minute)},
		{"empty window", "", "", at(-365 * 24 * time.Hour), at(-300 * 24 * time.Hour)},
	}
	for _, w := range windows {
		t.Run(w.name, func(t *testing.T) {
			req := &telemetryv1.GetSummaryRequest{SessionId: w.session, Tool: w.tool}
			lo, hi := time.Unix(0, 0), time.Unix(1<<40, 0)
			if !w.since.IsZero() {
				req.Since = timestamppb.New(w.since)
				lo = w.since.Truncate(time.Minute)
			}
			if !w.until.IsZero() {
				req.Until = timestamppb.New(w.until)
				hi = w.until.Truncate(time.Minute)
				if !hi.Equal(w.until) {
					hi = hi.Add(time.Minute)
				}
			}
			var want totals
			wantTools := map[string]totals{}
			var durations []float64
			for _, c := range calls {
				ct := c.GetTime().AsTime()
				if ct.Before(lo) || !ct.Before(hi) || (w.session != "" && c.GetSessionId() != w.session) || (w.tool != "" && c.GetTool() != w.tool) {
					continue
				}
				want = want.add(c)
				wantTools[c.GetTool()] = wantTools[c.GetTool()].add(c)
				durations = append(durations, c.GetDurationMs())
			}
			s := mustSummary(t, r.client, req)
			if got := totalsOf(s); got != want {
				t.Fatalf("window totals %+v, brute force %+v", got, want)
			}
			if len(s.GetTools()) != len(wantTools) {
				t.Fatalf("%d tools in the breakdown, want %d", len(s.GetTools()), len(wantTools))
			}
			for _, ts := range s.GetTools() {
				if got := toolTotals(ts); got != wantTools[ts.GetTool()] {
					t.Fatalf("tool %s: %+v, want %+v", ts.GetTool(), got, wantTools[ts.GetTool()])
				}
			}
			if !w.since.IsZero() && !s.GetSince().AsTime().Equal(lo) {
				t.Fatalf("answered since %v, want %v", s.GetSince().AsTime(), lo)
			}
			if !w.until.IsZero() && !s.GetUntil().AsTime().Equal(hi) {
				t.Fatalf("answered until %v, want %v", s.GetUntil().AsTime(), hi)
			}
			if w.since.IsZero() && s.GetSince() != nil || w.until.IsZero() && s.GetUntil() != nil {
				t.Fatalf("an open end was answered with a time: since %v until %v", s.GetSince(), s.GetUntil())
			}
			if len(durations) > 0 {
				checkPercentiles(t, "window", s, durations)
			}
		})
	}
}

// Percentiles of a known, heavy-tailed distribution recorded concurrently are within 1% of
// the exact ones, globally, per tool, per session and in a window (merged buckets).
func TestPercentilesWithinOnePercent(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cfg := testConfig(t.TempDir())
	cfg.Now = newClock(now).Now
	r := start(t, cfg)

	rng := rand.New(rand.NewPCG(7, 11))
	const n = 3000
	calls := make([]*telemetryv1.ToolCall, n)
	for i := range calls {
		d := math.Exp(3+1.2*rng.NormFloat64()) + 0.1 // lognormal around 20 ms, tail to seconds
		c := okCall(fmt.Sprintf("s%d", i%2), fmt.Sprintf("tool%d", i%3), d)
		c.Time = timestamppb.New(now.Add(-time.Duration(i) * 2 * time.Second)) // 100 minutes
		calls[i] = c
	}
	recordConcurrently(t, r.client, calls, 8)

	durationsOf := func(keep func(*telemetryv1.ToolCall) bool) []float64 {
		var out []float64
		for _, c := range calls {
			if keep(c) {
				out = append(out, c.GetDurationMs())
			}
		}
		return out
	}
	all := func(*telemetryv1.ToolCall) bool { return true }
	checkPercentiles(t, "global", mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}), durationsOf(all))
	checkPercentiles(t, "tool1", mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{Tool: "tool1"}),
		durationsOf(func(c *telemetryv1.ToolCall) bool { return c.GetTool() == "tool1" }))
	checkPercentiles(t, "session s0", mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{SessionId: "s0"}),
		durationsOf(func(c *telemetryv1.ToolCall) bool { return c.GetSessionId() == "s0" }))
	since := now.Add(-61 * time.Minute)
	checkPercentiles(t, "last 61 minutes", mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{Since: timestamppb.New(since)}),
		durationsOf(func(c *telemetryv1.ToolCall) bool { return !c.GetTime().AsTime().Before(since) }))
	// The per-tool breakdown carries each tool's own percentiles.
	for _, ts := range mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}).GetTools() {
		ds := durationsOf(func(c *telemetryv1.ToolCall) bool { return c.GetTool() == ts.GetTool() })
		checkPercentiles(t, "breakdown "+ts.GetTool(), &telemetryv1.GetSummaryResponse{P50Ms: ts.GetP50Ms(), P95Ms: ts.GetP95Ms(), P99Ms: ts.GetP99Ms()}, ds)
	}
}
