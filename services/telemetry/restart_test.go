package telemetry_test

import (
	"testing"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// The tool attribute is bounded: past the limit, tools fold into "other". After a restart
// the busiest tools already recorded get their own series first. Totals and seqs carry on.
func TestToolCardinalityIsBoundedAndTotalsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.ToolAttributes = 3
	r := start(t, cfg)
	// Tools e, d come first, so they take two of the three series; c takes the third.
	counts := []struct {
		tool string
		n    int
	}{{"e", 1}, {"d", 2}, {"c", 3}, {"b", 4}, {"a", 5}}
	var last uint64
	for _, c := range counts {
		for range c.n {
			last = mustRecord(t, r.client, okCall("s", c.tool, 1)).GetSeq()
		}
	}
	got := byTool(t, scrape(t, r.svc), "osiris_tool_calls_total")
	want := map[string]float64{"e": 1, "d": 2, "c": 3, "other": 9}
	if len(got) != len(want) {
		t.Fatalf("calls by tool %v, want %v", got, want)
	}
	for tool, n := range want {
		if got[tool] != n {
			t.Fatalf("calls by tool %v, want %v", got, want)
		}
	}
	r.stop(t)

	r = start(t, cfg)
	s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{})
	if s.GetToolCalls() != 15 || len(s.GetTools()) != 5 || s.GetTools()[0].GetTool() != "a" {
		t.Fatalf("after restart: %d calls, tools %v; want 15 calls, a first", s.GetToolCalls(), s.GetTools())
	}
	if seq := mustRecord(t, r.client, okCall("s", "e", 1)).GetSeq(); seq != last+1 {
		t.Fatalf("seq after restart %d, want %d", seq, last+1)
	}
	mustRecord(t, r.client, okCall("s", "a", 1))
	got = byTool(t, scrape(t, r.svc), "osiris_tool_calls_total")
	if got["a"] != 1 || got["other"] != 1 || len(got) != 2 {
		t.Fatalf("after restart the busiest tools a, b, c own the series: got %v, want a=1 other=1", got)
	}
}
