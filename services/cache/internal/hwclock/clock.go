// Package hwclock is a clock that never goes backwards: it returns the latest reading it has
// ever seen (the high-water time), restored from disk at start. The cache judges expiry by
// it, so a wall clock set back (by hand, NTP or a VM restore) cannot revive an expired entry.
package hwclock

import (
	"sync/atomic"
	"time"
)

// Clock is safe for concurrent use. Every reader raises the high-water mark with its own
// reading, so two calls in real-time order never see time go back, in any goroutine.
type Clock struct {
	wall func() time.Time
	high atomic.Int64 // Unix nanoseconds
}

// New returns a clock over wall (time.Now when nil) that starts at restored, the high-water
// time persisted by the previous run (zero for a new store).
func New(wall func() time.Time, restored time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	c := &Clock{wall: wall}
	if !restored.IsZero() {
		c.high.Store(restored.UnixNano())
	}
	return c
}

// Now is max(wall clock, every earlier reading, restored time), in UTC.
func (c *Clock) Now() time.Time {
	t := c.wall().UnixNano()
	for {
		h := c.high.Load()
		if t <= h {
			return time.Unix(0, h).UTC()
		}
		if c.high.CompareAndSwap(h, t) {
			return time.Unix(0, t).UTC()
		}
	}
}

// HighWater is the latest time seen so far, without reading the wall clock: what must be
// persisted so the next run starts no earlier.
func (c *Clock) HighWater() time.Time {
	h := c.high.Load()
	if h == 0 {
		return time.Time{}
	}
	return time.Unix(0, h).UTC()
}
