package cache_test

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

const year = 365 * 24 * time.Hour

// Issue 11, part 6. The high-water clock pinned "now" to the highest wall time ever seen: a
// wall clock that jumped a year ahead and was corrected froze expiry for a year, so entries
// were served past their TTL (and the entries of before the jump expired at once). Now the
// service's clock starts from the wall clock and advances with the monotonic one: entries
// expire on time, in monotonic terms, whatever the wall clock does, and /metrics counts the
// disagreements.
func TestClockJumpForwardAndBackEntriesExpireOnTime(t *testing.T) {
	clk := newTestClock()
	t0 := clk.Now()
	cfg := testConfig(t.TempDir())
	clk.drive(&cfg)
	cfg.ExpiryInterval = time.Hour // expiry on read alone
	r := start(t, cfg)

	put(t, r.client, "ns", "before", "a", 10*time.Second)
	clk.Set(t0.Add(year)) // the wall clock jumps a year ahead
	clk.Add(5 * time.Second)
	if get(t, r.client, "ns", "before") == nil {
		t.Fatal("an entry with 5 s left expired when the wall clock jumped ahead")
	}
	clk.Set(t0.Add(5 * time.Second)) // and is corrected
	during := put(t, r.client, "ns", "after", "b", 10*time.Second)
	if got := during.GetCreatedAt().AsTime(); !got.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("entry put after the correction created at %v, want %v", got, t0.Add(5*time.Second))
	}
	clk.Add(5 * time.Second)
	if get(t, r.client, "ns", "before") != nil {
		t.Fatal("entry served past its TTL")
	}
	if get(t, r.client, "ns", "after") == nil {
		t.Fatal("entry with 5 s left expired")
	}
	clk.Add(5 * time.Second)
	if e := get(t, r.client, "ns", "after"); e != nil {
		t.Fatalf("entry put after a corrected forward jump served past its TTL: %v", e)
	}
	clk.Set(t0) // the wall clock steps back 10 s: nothing revives
	if get(t, r.client, "ns", "before") != nil || get(t, r.client, "ns", "after") != nil {
		t.Fatal("an expired entry revived when the wall clock stepped back")
	}
	// One disagreement for the jump, one for the step back, which left the wall clock 15 s
	// behind the service's.
	if n := scrapeCounter(t, r.svc.HTTPAddr(), "osiris_clock_skew_events_total"); n != 2 {
		t.Fatalf("osiris_clock_skew_events_total = %v, want 2", n)
	}
	if off := scrapeCounter(t, r.svc.HTTPAddr(), "osiris_clock_offset_seconds"); off != -15 {
		t.Fatalf("osiris_clock_offset_seconds = %v, want -15", off)
	}
}

// scrapeCounter returns the value of the one sample of name on /metrics.
func scrapeCounter(t *testing.T, httpAddr, name string) float64 {
	t.Helper()
	resp, err := httpClient().Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("sample %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no %s on /metrics", name)
	return 0
}
