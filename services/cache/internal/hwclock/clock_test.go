package hwclock

import (
	"sync"
	"testing"
	"time"
)

func TestNowNeverGoesBack(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	wall := base
	set := func(v time.Time) { mu.Lock(); wall = v; mu.Unlock() }
	c := New(func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }, time.Time{})

	if got := c.Now(); !got.Equal(base) {
		t.Fatalf("Now = %v, want %v", got, base)
	}
	set(base.Add(time.Hour))
	if got := c.Now(); !got.Equal(base.Add(time.Hour)) {
		t.Fatalf("Now after advance = %v", got)
	}
	set(base) // set back an hour
	if got := c.Now(); !got.Equal(base.Add(time.Hour)) {
		t.Fatalf("Now after the clock went back = %v, want the high-water %v", got, base.Add(time.Hour))
	}
	if got := c.HighWater(); !got.Equal(base.Add(time.Hour)) {
		t.Fatalf("HighWater = %v", got)
	}
}

func TestRestoredHighWaterWinsOverAnEarlierWallClock(t *testing.T) {
	restored := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }, restored)
	if got := c.Now(); !got.Equal(restored) {
		t.Fatalf("Now = %v, want the restored %v", got, restored)
	}
	if New(nil, time.Time{}).HighWater() != (time.Time{}) {
		t.Fatal("a fresh clock has a high-water time before it was read")
	}
}

// Concurrent readers with a wall clock that jumps around: each goroutine's readings are
// non-decreasing, and the high-water ends at the largest reading.
func TestConcurrentReadersSeeMonotonicTime(t *testing.T) {
	var mu sync.Mutex
	i := int64(0)
	c := New(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		i++
		return time.Unix(0, (i*7919)%10007) // jumps back and forth
	}, time.Time{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			var last time.Time
			for range 2000 {
				now := c.Now()
				if now.Before(last) {
					t.Errorf("time went back from %v to %v", last, now)
					return
				}
				last = now
			}
		})
	}
	wg.Wait()
	if got := c.HighWater().UnixNano(); got != 10006 {
		t.Fatalf("high-water %d, want the largest reading 10006", got)
	}
}
