// Package hwclock is the services' clock for expiry and event times: it never goes
// backwards, and it does not follow the wall clock's steps.
//
// At start it takes the later of the wall clock and a floor (the high-water time persisted by
// the previous run), then advances with the monotonic clock alone. So a wall clock set back
// (by hand, NTP or a VM restore) cannot revive an expired cache entry or date an audit event
// before the last one, and a wall clock that jumps forward and is then corrected does not pin
// "now" to the highest time ever seen: TTLs keep running at the real rate. The cost: a wall
// step while the process runs is ignored until the next start, and time spent suspended
// (which the monotonic clock does not count) is not counted either. Each reading compares
// the wall clock with the chosen time; the offset and the disagreements beyond Tolerance are
// exported as metrics (Register), so a stepped clock is visible.
package hwclock

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Tolerance is how far the wall clock may stray from the chosen time before the reading
// counts as a disagreement (a skew event). NTP slews by far less; a step is larger.
const Tolerance = time.Second

// Clock is safe for concurrent use. Two calls in real-time order never see time go back,
// in any goroutine.
type Clock struct {
	read func() (wall time.Time, elapsed time.Duration)
	base int64 // Unix nanoseconds at elapsed == 0

	high   atomic.Int64 // Unix nanoseconds: the latest reading
	offset atomic.Int64 // wall minus the chosen time at the latest reading, nanoseconds
	skewed atomic.Bool  // the latest reading disagreed with the wall clock
	skews  atomic.Uint64
}

// New returns a clock that starts at the later of wall() and floor and then advances by
// elapsed. wall is time.Now when nil. elapsed is the monotonic time since any fixed instant,
// never decreasing; the process's monotonic clock when nil. floor is the high-water time of
// the previous run (zero for a new store).
func New(wall func() time.Time, elapsed func() time.Duration, floor time.Time) *Clock {
	origin := time.Now()
	c := &Clock{read: func() (time.Time, time.Duration) {
		now := time.Now() // one reading gives both: its wall and its monotonic part
		w, e := now, now.Sub(origin)
		if wall != nil {
			w = wall()
		}
		if elapsed != nil {
			e = elapsed()
		}
		return w, e
	}}
	w, e := c.read()
	start := w.UnixNano()
	if !floor.IsZero() {
		start = max(start, floor.UnixNano())
	}
	c.base = start - int64(e)
	c.high.Store(start)
	return c
}

// Now is the start time plus the monotonic time since, in UTC; never earlier than any
// earlier reading.
func (c *Clock) Now() time.Time {
	wall, elapsed := c.read()
	t := c.base + int64(elapsed)
	for {
		h := c.high.Load()
		if t <= h {
			t = h
			break
		}
		if c.high.CompareAndSwap(h, t) {
			break
		}
	}
	c.compare(wall.UnixNano(), t)
	return time.Unix(0, t).UTC()
}

// compare records how far the wall clock is from t, and counts the start of each
// disagreement beyond Tolerance once.
func (c *Clock) compare(wall, t int64) {
	off := wall - t
	c.offset.Store(off)
	if off > int64(Tolerance) || off < -int64(Tolerance) {
		if c.skewed.CompareAndSwap(false, true) {
			c.skews.Add(1)
		}
		return
	}
	c.skewed.Store(false)
}

// HighWater is the latest time read so far, without reading the clocks: what must be
// persisted so the next run starts no earlier.
func (c *Clock) HighWater() time.Time { return time.Unix(0, c.high.Load()).UTC() }

// Offset is the wall clock minus the clock at the latest reading: positive when the wall
// clock is ahead.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// SkewEvents counts the times a reading found the wall clock more than Tolerance away after
// one that did not (or at the first reading).
func (c *Clock) SkewEvents() uint64 { return c.skews.Load() }

// Register exports the clock's offset (osiris.clock.offset, seconds) and skew events
// (osiris.clock.skew_events) on meter.
func (c *Clock) Register(meter metric.Meter) error {
	offset, err := meter.Float64ObservableGauge("osiris.clock.offset",
		metric.WithDescription("wall clock minus the service's clock at its latest reading; the service's clock ignores wall clock steps"),
		metric.WithUnit("s"))
	if err != nil {
		return err
	}
	skews, err := meter.Int64ObservableCounter("osiris.clock.skew_events",
		metric.WithDescription("readings that found the wall clock more than 1 s from the service's clock, after one that did not"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveFloat64(offset, c.Offset().Seconds())
		o.ObserveInt64(skews, int64(c.SkewEvents()))
		return nil
	}, offset, skews)
	return err
}
