package sessions

import (
	"log/slog"
	"time"

	"github.com/osirisplane/osiris/platform/writer"
)

// Defaults of Config; each is also a flag of the service.
const (
	DefaultIdleTTL           = 30 * time.Minute
	DefaultIdleTTLLimit      = 24 * time.Hour
	DefaultMaxTTL            = 24 * time.Hour
	DefaultMaxTTLLimit       = 7 * 24 * time.Hour
	DefaultClosedRetention   = time.Hour
	DefaultMaxSessions       = 100_000
	DefaultMaxKeysPerSession = 10_000
	DefaultMaxValueBytes     = 1 << 20
	DefaultMaxHistory        = 100
	DefaultSweepInterval     = 30 * time.Second
)

// Page sizes of the list calls.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// MaxExamined bounds how many stored sessions one ListSessions call reads, so that a page
	// of open sessions among many closed or expired ones cannot make one request walk the
	// whole store; the caller continues with the token.
	MaxExamined = 10_000
)

// Config tunes a Keeper; zero fields take the defaults above.
type Config struct {
	DefaultIdleTTL    time.Duration
	IdleTTLLimit      time.Duration // the longest idle TTL a caller may ask for
	DefaultMaxTTL     time.Duration
	MaxTTLLimit       time.Duration // the longest absolute TTL a caller may ask for
	ClosedRetention   time.Duration // how long a closed session stays readable
	MaxSessions       int           // sessions stored at once, open or closed
	MaxKeysPerSession int
	MaxValueBytes     int
	MaxHistory        int // transitions kept per session; older ones are dropped first
	SweepInterval     time.Duration
	Queue             writer.Config
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Events receives lifecycle events after they are durable; nil discards them.
	Events Sink
	// OnSweep, when set, is called after each durable sweep with what it did.
	OnSweep func(SweepReport)
	Log     *slog.Logger
}

func (c *Config) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.DefaultIdleTTL, DefaultIdleTTL)
	def(&c.IdleTTLLimit, DefaultIdleTTLLimit)
	def(&c.DefaultMaxTTL, DefaultMaxTTL)
	def(&c.MaxTTLLimit, DefaultMaxTTLLimit)
	def(&c.ClosedRetention, DefaultClosedRetention)
	def(&c.SweepInterval, DefaultSweepInterval)
	defInt(&c.MaxSessions, DefaultMaxSessions)
	defInt(&c.MaxKeysPerSession, DefaultMaxKeysPerSession)
	defInt(&c.MaxValueBytes, DefaultMaxValueBytes)
	defInt(&c.MaxHistory, DefaultMaxHistory)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Events == nil {
		c.Events = discard{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}
