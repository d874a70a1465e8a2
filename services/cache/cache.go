// Package cache wires the cache service: Badger store, the entry cache (single writer, TTL
// on a clock that never goes back (platform/hwclock), bounds with LRU eviction, tags), gRPC and REST. The same code runs
// as the osiris-cache binary and inside `osiris up`.
package cache

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/osirisplane/osiris/api/openapi"
	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/platform/lifecycle"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
	"github.com/osirisplane/osiris/services/cache/internal/grpcapi"
)

// EnvPrefix is the prefix of the service's environment variables (OSIRIS_CACHE_DATA_DIR).
const EnvPrefix = "OSIRIS_CACHE"

// LegacyTTLEnv is the original Osiris setting of the discovery cache TTL, in whole hours.
// It sets the default TTL unless --default-ttl (or OSIRIS_CACHE_DEFAULT_TTL) is given.
const LegacyTTLEnv = "OSIRIS_MCP_CACHE_TTL_HOURS"

// Bounds of the settings themselves.
const (
	maxValueBytesLimit = 64 << 20 // Badger keeps values in memory while a batch commits
	maxEntriesLimit    = 10_000_000
	maxTTLLimit        = 10 * 365 * 24 * time.Hour
	// requestOverhead is what a Put carries besides its value: key, namespace, up to 32
	// tags of 256 bytes, TTL and framing.
	requestOverhead = 64 << 10
)

// Config is everything the service can be told at start-up.
type Config struct {
	lifecycle.Settings
	DefaultTTL      time.Duration
	MaxTTL          time.Duration
	MaxEntries      int
	MaxBytes        int64
	MaxValueBytes   int
	MaxPendingBytes int64
	ExpiryInterval  time.Duration
	// Now is the wall clock and Elapsed the monotonic one (tests); the process's clocks when
	// nil. Expiry uses the later of Now and the persisted high-water time at start, advanced
	// by Elapsed (platform/hwclock), so it never goes back and ignores wall clock steps.
	Now     func() time.Time
	Elapsed func() time.Duration
}

// DefaultConfig is the configuration of a plain `osiris-cache`.
func DefaultConfig() Config {
	return Config{
		Settings:        lifecycle.Defaults("./data/cache", "127.0.0.1:7104", "127.0.0.1:8104"),
		DefaultTTL:      entrycache.DefaultTTL,
		MaxTTL:          entrycache.DefaultMaxTTL,
		MaxEntries:      entrycache.DefaultMaxEntries,
		MaxBytes:        entrycache.DefaultMaxBytes,
		MaxValueBytes:   entrycache.DefaultMaxValueBytes,
		MaxPendingBytes: entrycache.DefaultMaxPendingBytes,
		ExpiryInterval:  entrycache.DefaultExpiryInterval,
	}
}

// ApplyLegacyEnv honours OSIRIS_MCP_CACHE_TTL_HOURS as the original did (an integer number
// of hours) by making it the default TTL. Call it before flags are parsed, so the service's
// own flag and variable still win.
func (c *Config) ApplyLegacyEnv(lookup func(string) (string, bool)) error {
	v, ok := lookup(LegacyTTLEnv)
	if !ok {
		return nil
	}
	hours, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || hours < 1 || time.Duration(hours) > maxTTLLimit/time.Hour {
		return fmt.Errorf("invalid value %q for %s: want a whole number of hours from 1 to %d", v, LegacyTTLEnv, maxTTLLimit/time.Hour)
	}
	c.DefaultTTL = time.Duration(hours) * time.Hour
	return nil
}

// queueUnit is what one writer item is.
const queueUnit = "writes"

// RegisterFlags declares the service's flags on fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Settings.RegisterFlags(fs, queueUnit)
	fs.DurationVar(&c.DefaultTTL, "default-ttl", c.DefaultTTL, "TTL of a Put that gives none (also "+LegacyTTLEnv+", in hours)")
	fs.DurationVar(&c.MaxTTL, "max-ttl", c.MaxTTL, "longest TTL a Put may ask for")
	fs.IntVar(&c.MaxEntries, "max-entries", c.MaxEntries, "most entries stored; more evict the least recently used")
	fs.Int64Var(&c.MaxBytes, "max-bytes", c.MaxBytes, "most bytes (namespace+key+value+tags) stored; more evict the least recently used")
	fs.IntVar(&c.MaxValueBytes, "max-value-bytes", c.MaxValueBytes, "largest value of one entry")
	fs.Int64Var(&c.MaxPendingBytes, "max-pending-bytes", c.MaxPendingBytes, "value bytes of Puts that may wait for the writer before RESOURCE_EXHAUSTED")
	fs.DurationVar(&c.ExpiryInterval, "expiry-interval", c.ExpiryInterval, "how often expired entries are removed in the background")
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	switch {
	case c.MaxTTL <= 0 || c.MaxTTL > maxTTLLimit:
		return fmt.Errorf("--max-ttl must be positive and at most %v, got %v", maxTTLLimit, c.MaxTTL)
	case c.DefaultTTL <= 0 || c.DefaultTTL > c.MaxTTL:
		return fmt.Errorf("--default-ttl must be positive and at most --max-ttl (%v), got %v", c.MaxTTL, c.DefaultTTL)
	case c.MaxEntries < 1 || c.MaxEntries > maxEntriesLimit:
		return fmt.Errorf("--max-entries must be between 1 and %d, got %d", maxEntriesLimit, c.MaxEntries)
	case c.MaxValueBytes < 1 || c.MaxValueBytes > maxValueBytesLimit:
		return fmt.Errorf("--max-value-bytes must be between 1 and %d, got %d", maxValueBytesLimit, c.MaxValueBytes)
	case c.MaxBytes < int64(c.MaxValueBytes):
		return fmt.Errorf("--max-bytes (%d) must be at least --max-value-bytes (%d)", c.MaxBytes, c.MaxValueBytes)
	case c.MaxPendingBytes < int64(c.MaxValueBytes):
		return fmt.Errorf("--max-pending-bytes (%d) must be at least --max-value-bytes (%d)", c.MaxPendingBytes, c.MaxValueBytes)
	case c.ExpiryInterval <= 0:
		return errors.New("--expiry-interval must be positive")
	}
	return nil
}

// Service is a running cache service.
type Service struct {
	cfg   Config
	lc    *lifecycle.Service
	cache *entrycache.Cache
}

// New opens the store, starts the writer and binds the listeners. Run serves; if Run is never
// called, Close releases everything.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc, err := openapi.Document("cache")
	if err != nil {
		return nil, err
	}
	lc, err := lifecycle.New(lifecycle.Spec{
		Name:         "cache",
		Settings:     cfg.Settings,
		OpenAPI:      doc,
		MaxRecvBytes: cfg.MaxValueBytes + requestOverhead,
		QueueUnit:    queueUnit,
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, lc: lc}
	if err := s.open(); err != nil {
		return nil, errors.Join(err, lc.Close())
	}
	cachev1.RegisterCacheServiceServer(lc.Server().GRPC(), grpcapi.New(s.cache))
	return s, nil
}

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.lc.GRPCAddr() }

// HTTPAddr is the bound HTTP address.
func (s *Service) HTTPAddr() string { return s.lc.HTTPAddr() }

// Run serves until ctx ends, then shuts down in order: servers, writer (drained), store.
func (s *Service) Run(ctx context.Context) error {
	return s.lc.Run(ctx, cachev1.RegisterCacheServiceHandler)
}

// Close persists recency and counters, drains the writer, closes the store and the
// telemetry providers.
func (s *Service) Close() error { return s.lc.Close() }

// Run is New followed by Service.Run: the whole life of the service.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
