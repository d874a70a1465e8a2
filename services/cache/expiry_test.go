package cache_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
)

// The original compared expiry with the wall clock, so setting the clock back revived
// expired entries. Here expiry is judged by the high-water time: put with a TTL, advance the
// clock past expiry, set it back, also across a restart: the entries stay gone, and new
// entries are dated by the high-water time, not by the clock that went back.
func TestClockRollbackNeverRevivesAnExpiredEntry(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	t0 := clk.Now()
	cfg := testConfig(dir)
	clk.drive(&cfg)
	cfg.ExpiryInterval = time.Hour // no background sweep: expiry on read alone must hide them
	r := start(t, cfg)

	put(t, r.client, "ns", "read-after-expiry", "a", 10*time.Second)
	put(t, r.client, "ns", "never-read", "b", 10*time.Second)
	put(t, r.client, "ns", "long", "c", time.Hour)

	clk.Add(10 * time.Second) // exactly the TTL: expired (now >= expires_at)
	if e := get(t, r.client, "ns", "read-after-expiry"); e != nil {
		t.Fatalf("entry returned at its expiry time: %v", e)
	}
	// The expired entry read was removed durably; the other is still stored but unreachable.
	wantStats(t, stats(t, r.client), [6]uint64{2, (2 + 10 + 1) + (2 + 4 + 1), 0, 1, 0, 1})

	clk.Set(t0) // the wall clock goes back 10 s
	for _, k := range []string{"read-after-expiry", "never-read"} {
		if e := get(t, r.client, "ns", k); e != nil {
			t.Fatalf("%s revived after the clock went back: %v", k, e)
		}
	}
	if e := get(t, r.client, "ns", "long"); e == nil {
		t.Fatal("live entry lost")
	}
	later := put(t, r.client, "ns", "after-rollback", "d", time.Minute)
	if got := later.GetCreatedAt().AsTime(); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("entry put after the rollback created at %v, want the high-water %v", got, t0.Add(10*time.Second))
	}

	r.stop(t)
	r = start(t, cfg) // the clock is still 10 s behind
	for _, k := range []string{"read-after-expiry", "never-read"} {
		if e := get(t, r.client, "ns", k); e != nil {
			t.Fatalf("%s revived by a restart with the clock set back: %v", k, e)
		}
	}
	if e := get(t, r.client, "ns", "long"); e == nil {
		t.Fatal("live entry lost in the restart")
	}
	if now := stats(t, r.client).GetNow().AsTime(); !now.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("service time after restart %v, want the persisted high-water %v", now, t0.Add(10*time.Second))
	}
}

// The high-water time is persisted by the writer too, not only by readers: the clock moves
// past an entry's expiry while only another write happens, then goes back before a restart.
func TestClockRollbackAcrossRestartWithoutReads(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	t0 := clk.Now()
	cfg := testConfig(dir)
	clk.drive(&cfg)
	cfg.ExpiryInterval = time.Hour
	r := start(t, cfg)
	put(t, r.client, "ns", "short", "x", 5*time.Second)
	clk.Add(6 * time.Second)
	put(t, r.client, "ns", "unrelated", "y", time.Hour) // the writer sees (and persists) t0+6s
	r.stop(t)

	clk.Set(t0.Add(-time.Hour)) // an hour before the entry was even written
	r = start(t, cfg)
	if e := get(t, r.client, "ns", "short"); e != nil {
		t.Fatalf("expired entry revived by a restart with the clock set back: %v", e)
	}
	if n, err := r.client.ClearExpired(context.Background(), &cachev1.ClearExpiredRequest{}); err != nil || n.GetRemoved() != 0 {
		// The read above already removed it (and counted it).
		t.Fatalf("ClearExpired = %v, %v; want 0 removed", n, err)
	}
	wantStats(t, stats(t, r.client), [6]uint64{1, 2 + 9 + 1, 0, 1, 0, 1})
}

// Background expiry removes expired entries without any read, and ClearExpired removes them
// on demand; both count expirations exactly.
func TestExpiryInBackgroundAndOnDemand(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t.TempDir())
	clk.drive(&cfg)
	cfg.ExpiryInterval = time.Hour
	r := start(t, cfg)
	var wg sync.WaitGroup
	for w := range 25 { // 2500 entries: more than two chunks of the writer's bulk expiry
		wg.Go(func() {
			for i := w * 100; i < (w+1)*100; i++ {
				ttl := durationpb.New(time.Duration(1+i%3) * time.Second)
				if _, err := r.client.Put(context.Background(), &cachev1.PutRequest{Namespace: "bulk", Key: keyOf(i), Ttl: ttl}); err != nil {
					t.Errorf("put %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	put(t, r.client, "bulk", "live", "", time.Hour)
	clk.Add(3 * time.Second)
	resp, err := r.client.ClearExpired(context.Background(), &cachev1.ClearExpiredRequest{})
	if err != nil || resp.GetRemoved() != 2500 {
		t.Fatalf("ClearExpired = %v, %v; want 2500 removed", resp, err)
	}
	wantStats(t, stats(t, r.client), [6]uint64{1, 4 + 4, 0, 0, 0, 2500})
	r.stop(t)

	// Now with a fast background sweep and no ClearExpired.
	cfg.ExpiryInterval = 5 * time.Millisecond
	r = start(t, cfg)
	put(t, r.client, "bulk", "soon", "", time.Second)
	clk.Add(time.Hour)
	for deadline := time.Now().Add(20 * time.Second); stats(t, r.client).GetEntries() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("background expiry left %d entries", stats(t, r.client).GetEntries())
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantStats(t, stats(t, r.client), [6]uint64{0, 0, 0, 0, 0, 2502})
}

func keyOf(i int) string { return "k" + strconv.Itoa(i) }
