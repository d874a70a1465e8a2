package session

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/osirisplane/osiris/platform/lifecycle"
	"github.com/osirisplane/osiris/services/session/internal/auditsink"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// EnvPrefix is the prefix of the service's environment variables (OSIRIS_SESSION_DATA_DIR).
const EnvPrefix = "OSIRIS_SESSION"

// Bounds of the settings, checked by Validate.
const (
	minValueBytes   = 1 << 10
	maxValueBytes   = 16 << 20 // a value must fit whole in one Badger transaction
	maxKeysLimit    = 1_000_000
	maxSessionLimit = 10_000_000
	maxHistoryLimit = 100_000
	maxQueue        = 1 << 20
)

// Config is everything the service can be told at start-up.
type Config struct {
	lifecycle.Settings
	IdleTTL           time.Duration
	IdleTTLLimit      time.Duration
	MaxTTL            time.Duration
	MaxTTLLimit       time.Duration
	ClosedRetention   time.Duration
	SweepInterval     time.Duration
	MaxSessions       int
	MaxKeysPerSession int
	MaxValueBytes     int
	MaxHistory        int
	// AuditAddr is the audit service's gRPC address; empty sends no lifecycle events.
	AuditAddr    string
	AuditQueue   int
	AuditTimeout time.Duration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// DefaultConfig is the configuration of a plain `osiris-session`.
func DefaultConfig() Config {
	return Config{
		Settings:          lifecycle.Defaults("./data/session", "127.0.0.1:7103", "127.0.0.1:8103"),
		IdleTTL:           sessions.DefaultIdleTTL,
		IdleTTLLimit:      sessions.DefaultIdleTTLLimit,
		MaxTTL:            sessions.DefaultMaxTTL,
		MaxTTLLimit:       sessions.DefaultMaxTTLLimit,
		ClosedRetention:   sessions.DefaultClosedRetention,
		SweepInterval:     sessions.DefaultSweepInterval,
		MaxSessions:       sessions.DefaultMaxSessions,
		MaxKeysPerSession: sessions.DefaultMaxKeysPerSession,
		MaxValueBytes:     sessions.DefaultMaxValueBytes,
		MaxHistory:        sessions.DefaultMaxHistory,
		AuditQueue:        auditsink.DefaultQueue,
		AuditTimeout:      auditsink.DefaultTimeout,
	}
}

// RegisterFlags declares the service's flags on fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Settings.RegisterFlags(fs, "writes")
	fs.DurationVar(&c.IdleTTL, "idle-ttl", c.IdleTTL, "idle time to live of a session that does not ask for one; any use renews it")
	fs.DurationVar(&c.IdleTTLLimit, "idle-ttl-limit", c.IdleTTLLimit, "longest idle TTL a session may ask for")
	fs.DurationVar(&c.MaxTTL, "max-ttl", c.MaxTTL, "absolute time to live of a session that does not ask for one")
	fs.DurationVar(&c.MaxTTLLimit, "max-ttl-limit", c.MaxTTLLimit, "longest absolute TTL a session may ask for")
	fs.DurationVar(&c.ClosedRetention, "closed-retention", c.ClosedRetention, "how long a closed session stays readable before it is removed")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", c.SweepInterval, "how often expired and long-closed sessions are removed")
	fs.IntVar(&c.MaxSessions, "max-sessions", c.MaxSessions, "sessions stored at once (open, or closed within retention) before CreateSession gets RESOURCE_EXHAUSTED")
	fs.IntVar(&c.MaxKeysPerSession, "max-keys-per-session", c.MaxKeysPerSession, "keys one session may hold")
	fs.IntVar(&c.MaxValueBytes, "max-value-bytes", c.MaxValueBytes, "largest encoded value")
	fs.IntVar(&c.MaxHistory, "max-history", c.MaxHistory, "state transitions kept per session (oldest dropped first)")
	fs.StringVar(&c.AuditAddr, "audit-addr", c.AuditAddr, "gRPC address of the audit service for session_started/session_closed events (empty: none)")
	fs.IntVar(&c.AuditQueue, "audit-queue", c.AuditQueue, "lifecycle events that may wait for the audit service before they are dropped")
	fs.DurationVar(&c.AuditTimeout, "audit-timeout", c.AuditTimeout, "deadline of one delivery to the audit service")
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	between := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("--%s must be between %d and %d, got %d", name, lo, hi, v)
		}
		return nil
	}
	ttl := func(name string, v, limit time.Duration, limitName string) error {
		if v < sessions.MinTTL {
			return fmt.Errorf("--%s must be at least %s, got %s", name, sessions.MinTTL, v)
		}
		if v > limit {
			return fmt.Errorf("--%s (%s) must not exceed --%s (%s)", name, v, limitName, limit)
		}
		return nil
	}
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	switch {
	case c.SweepInterval <= 0:
		return errors.New("--sweep-interval must be positive")
	case c.ClosedRetention < sessions.MinTTL:
		return fmt.Errorf("--closed-retention must be at least %s, got %s", sessions.MinTTL, c.ClosedRetention)
	case c.AuditTimeout <= 0:
		return errors.New("--audit-timeout must be positive")
	}
	for _, err := range []error{
		between("max-sessions", c.MaxSessions, 1, maxSessionLimit),
		between("max-keys-per-session", c.MaxKeysPerSession, 1, maxKeysLimit),
		between("max-value-bytes", c.MaxValueBytes, minValueBytes, maxValueBytes),
		between("max-history", c.MaxHistory, 1, maxHistoryLimit),
		between("audit-queue", c.AuditQueue, 1, maxQueue),
		ttl("idle-ttl", c.IdleTTL, c.IdleTTLLimit, "idle-ttl-limit"),
		ttl("max-ttl", c.MaxTTL, c.MaxTTLLimit, "max-ttl-limit"),
	} {
		if err != nil {
			return err // one line: the first problem
		}
	}
	return nil
}
