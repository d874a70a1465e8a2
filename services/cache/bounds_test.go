package cache_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
)

// The original had no bound at all. Past --max-entries the least recently used entry goes
// (a Get counts as a use), the counters add up exactly, and the recency order survives a
// clean restart.
func TestBoundsMaxEntriesEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxEntries = 5
	r := start(t, cfg)
	for i := range 5 {
		put(t, r.client, "ns", fmt.Sprintf("k%d", i), "v", 0) // 2+2+1 = 5 bytes each
	}
	get(t, r.client, "ns", "k0")         // k0 is now the most recently used
	put(t, r.client, "ns", "k5", "v", 0) // evicts k1
	get(t, r.client, "ns", "k2")         //
	put(t, r.client, "ns", "k6", "v", 0) // evicts k3
	for k, want := range map[string]bool{"k0": true, "k1": false, "k2": true, "k3": false, "k4": true, "k5": true, "k6": true} {
		if got := get(t, r.client, "ns", k) != nil; got != want {
			t.Fatalf("%s present = %v, want %v", k, got, want)
		}
	}
	// Hits: k0, k2 and the five present above; misses: k1, k3.
	wantStats(t, stats(t, r.client), [6]uint64{5, 25, 7, 2, 2, 0})

	r.stop(t)
	r = start(t, cfg)
	wantStats(t, stats(t, r.client), [6]uint64{5, 25, 7, 2, 2, 0}) // hits and misses persisted too
	// Last uses before the restart, oldest first: the map walk above touched the five in an
	// unknown order, so touch them again in a known one.
	for _, k := range []string{"k4", "k0", "k6", "k2", "k5"} {
		get(t, r.client, "ns", k)
	}
	r.stop(t)
	r = start(t, cfg)
	put(t, r.client, "ns", "k7", "v", 0) // by put order k0 would go; by use order, k4
	if get(t, r.client, "ns", "k4") != nil || get(t, r.client, "ns", "k0") == nil {
		t.Fatal("after a restart the eviction did not follow the persisted use order")
	}
	wantStats(t, stats(t, r.client), [6]uint64{5, 25, 13, 3, 3, 0})
}

// Past --max-bytes entries are evicted until the new one fits; an entry that can never fit
// is refused without evicting anything.
func TestBoundsMaxBytesEvictsUntilTheEntryFits(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxBytes, cfg.MaxValueBytes = 1000, 1000
	r := start(t, cfg)
	v300, v600 := strings.Repeat("x", 300), strings.Repeat("y", 600)
	for i := range 4 { // 303 bytes each: the fourth evicts the first
		put(t, r.client, "b", fmt.Sprintf("k%d", i), v300, 0)
	}
	wantStats(t, stats(t, r.client), [6]uint64{3, 909, 0, 0, 1, 0})
	put(t, r.client, "b", "k9", v600, 0) // 603 bytes: two of the three must go
	wantStats(t, stats(t, r.client), [6]uint64{2, 906, 0, 0, 3, 0})
	if get(t, r.client, "b", "k3") == nil || get(t, r.client, "b", "k9") == nil {
		t.Fatal("the most recent entries were evicted")
	}
	_, err := r.client.Put(context.Background(), &cachev1.PutRequest{Namespace: "b", Key: "huge", Value: []byte(strings.Repeat("z", 998))})
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "entry is 1003 bytes") {
		t.Fatalf("entry over max bytes: %v", err)
	}
	wantStats(t, stats(t, r.client), [6]uint64{2, 906, 2, 0, 3, 0})
}

// When room is needed, expired entries go first, even if they were used more recently than
// live ones; they count as expirations, not evictions.
func TestBoundsRemoveExpiredBeforeEvictingLiveEntries(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t.TempDir())
	clk.drive(&cfg)
	cfg.MaxEntries, cfg.ExpiryInterval = 3, time.Hour
	r := start(t, cfg)
	put(t, r.client, "ns", "old", "", time.Hour)
	put(t, r.client, "ns", "mid", "", time.Hour)
	put(t, r.client, "ns", "brief", "", 10*time.Second)
	clk.Add(20 * time.Second)
	put(t, r.client, "ns", "new", "", time.Hour)
	if get(t, r.client, "ns", "old") == nil {
		t.Fatal("a live entry was evicted while an expired one was stored")
	}
	wantStats(t, stats(t, r.client), [6]uint64{3, 5 + 5 + 5, 1, 0, 0, 1})
}

// 32 clients insert 640 distinct entries into a cache of 100 at once. While they do, the
// published counts never pass the bounds; at the end exactly 100 entries are stored, 540 were
// evicted, and the same holds after a restart.
func TestBoundsHoldUnderConcurrentInserts(t *testing.T) {
	const workers, each, maxEntries = 32, 20, 100
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxEntries, cfg.MaxBytes, cfg.MaxValueBytes = maxEntries, 100*12+5, 1000 // 12-byte entries: bytes bind as tight as entries
	r := start(t, cfg)
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			s, err := r.client.Stats(context.Background(), &cachev1.StatsRequest{})
			if err != nil {
				t.Errorf("stats: %v", err)
				return
			}
			if s.GetEntries() > maxEntries || s.GetBytes() > uint64(cfg.MaxBytes) {
				t.Errorf("bounds exceeded: %d entries, %d bytes", s.GetEntries(), s.GetBytes())
				return
			}
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("w%02d-%02d", w, i) // 6 bytes; with "ns" and a 4-byte value: 12
				if _, err := r.client.Put(context.Background(), &cachev1.PutRequest{Namespace: "ns", Key: key, Value: []byte("abcd")}); err != nil {
					t.Errorf("put %s: %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	watch.Wait()
	if t.Failed() {
		return
	}
	want := [6]uint64{maxEntries, maxEntries * 12, 0, 0, workers*each - maxEntries, 0}
	wantStats(t, stats(t, r.client), want)
	r.stop(t)
	r = start(t, cfg)
	wantStats(t, stats(t, r.client), want)
	present := 0
	for w := range workers {
		for i := range each {
			if get(t, r.client, "ns", fmt.Sprintf("w%02d-%02d", w, i)) != nil {
				present++
			}
		}
	}
	if present != maxEntries {
		t.Fatalf("%d entries readable, stats say %d", present, maxEntries)
	}
}
