package hwclock

import (
	"sync"
	"testing"
	"time"
)

// machine is a fake host: a monotonic clock that only advances, and a wall clock that is the
// monotonic time plus an offset someone may step.
type machine struct {
	mu   sync.Mutex
	mono time.Duration
	step time.Duration
	t0   time.Time
}

func newMachine() *machine { return &machine{t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (m *machine) Wall() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t0.Add(m.mono + m.step)
}

func (m *machine) Elapsed() time.Duration { m.mu.Lock(); defer m.mu.Unlock(); return m.mono }
func (m *machine) Run(d time.Duration)    { m.mu.Lock(); m.mono += d; m.mu.Unlock() }
func (m *machine) Step(d time.Duration)   { m.mu.Lock(); m.step += d; m.mu.Unlock() }

func TestNowFollowsTheMonotonicClockNotWallSteps(t *testing.T) {
	m := newMachine()
	c := New(m.Wall, m.Elapsed, time.Time{})
	if got := c.Now(); !got.Equal(m.t0) {
		t.Fatalf("Now = %v, want the wall clock at start %v", got, m.t0)
	}
	m.Run(time.Minute)
	if got := c.Now(); !got.Equal(m.t0.Add(time.Minute)) {
		t.Fatalf("Now after a minute = %v", got)
	}
	const year = 365 * 24 * time.Hour
	m.Step(year) // the wall clock jumps a year ahead...
	m.Run(time.Minute)
	if got := c.Now(); !got.Equal(m.t0.Add(2 * time.Minute)) {
		t.Fatalf("Now after a forward jump = %v, want %v", got, m.t0.Add(2*time.Minute))
	}
	if c.Offset() != year || c.SkewEvents() != 1 {
		t.Fatalf("offset %v, skew events %d; want a year and 1", c.Offset(), c.SkewEvents())
	}
	c.Now()       // still skewed: not a new event
	m.Step(-year) // ...and is corrected: time was never pinned, it keeps running
	m.Run(time.Minute)
	if got := c.Now(); !got.Equal(m.t0.Add(3 * time.Minute)) {
		t.Fatalf("Now after the correction = %v, want %v", got, m.t0.Add(3*time.Minute))
	}
	m.Step(-time.Hour) // a step back cannot move time back
	if got := c.Now(); !got.Equal(m.t0.Add(3 * time.Minute)) {
		t.Fatalf("Now after a step back = %v", got)
	}
	if c.Offset() != -time.Hour || c.SkewEvents() != 2 {
		t.Fatalf("offset %v, skew events %d; want -1h and 2", c.Offset(), c.SkewEvents())
	}
	if got := c.HighWater(); !got.Equal(m.t0.Add(3 * time.Minute)) {
		t.Fatalf("HighWater = %v", got)
	}
}

// Small disagreements (NTP slewing) are not skew events.
func TestWithinToleranceIsNoSkewEvent(t *testing.T) {
	m := newMachine()
	c := New(m.Wall, m.Elapsed, time.Time{})
	m.Step(Tolerance)
	m.Run(time.Second)
	c.Now()
	if c.SkewEvents() != 0 || c.Offset() != Tolerance {
		t.Fatalf("skew events %d, offset %v", c.SkewEvents(), c.Offset())
	}
}

// The persisted high-water time is a floor at start: from there the clock advances.
func TestRestoredFloorWinsOverAnEarlierWallClock(t *testing.T) {
	m := newMachine()
	floor := m.t0.Add(time.Hour)
	c := New(m.Wall, m.Elapsed, floor)
	if got := c.Now(); !got.Equal(floor) {
		t.Fatalf("Now = %v, want the floor %v", got, floor)
	}
	m.Run(time.Second)
	if got := c.Now(); !got.Equal(floor.Add(time.Second)) {
		t.Fatalf("Now a second later = %v, want %v: the floor must not freeze time", got, floor.Add(time.Second))
	}
	if got := New(m.Wall, m.Elapsed, m.t0.Add(-time.Hour)).Now(); !got.Equal(m.t0.Add(time.Second)) {
		t.Fatalf("Now with an older floor = %v, want the wall clock", got)
	}
	if d := New(nil, nil, time.Time{}).HighWater().Sub(time.Now()); d > time.Second || d < -time.Second {
		t.Fatalf("a fresh clock over the real clocks starts %v away from now", d)
	}
}

// Concurrent readers while the monotonic clock advances and the wall clock jumps around:
// each goroutine's readings are non-decreasing, and the high-water ends at the last reading.
func TestConcurrentReadersSeeMonotonicTime(t *testing.T) {
	m := newMachine()
	c := New(m.Wall, m.Elapsed, time.Time{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			var last time.Time
			for i := range 2000 {
				if g == 0 {
					m.Run(time.Microsecond)
					m.Step(time.Duration((i*7919)%10007-5000) * time.Second) // jumps back and forth
				}
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
	if got, want := c.Now(), m.t0.Add(2000*time.Microsecond); !got.Equal(want) || !c.HighWater().Equal(want) {
		t.Fatalf("Now %v, high-water %v; want %v", got, c.HighWater(), want)
	}
}

// BenchmarkNow is the cost of one reading over the process's clocks (every cache Get pays it).
func BenchmarkNow(b *testing.B) {
	c := New(nil, nil, time.Time{})
	for b.Loop() {
		c.Now()
	}
}

// BenchmarkTimeNow is time.Now alone, for scale.
func BenchmarkTimeNow(b *testing.B) {
	for b.Loop() {
		time.Now()
	}
}
