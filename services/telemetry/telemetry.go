// Package telemetry wires the telemetry service: Badger store, recorder (single writer,
// exact aggregates, retention), OpenTelemetry instruments, gRPC and REST. The same code runs
// as the osiris-telemetry binary and inside `osiris up`.
package telemetry

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/osirisplane/osiris/api/openapi"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/lifecycle"
	"github.com/osirisplane/osiris/services/telemetry/internal/badgerstore"
	"github.com/osirisplane/osiris/services/telemetry/internal/grpcapi"
	"github.com/osirisplane/osiris/services/telemetry/internal/metrics"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// EnvPrefix is the prefix of the service's environment variables (OSIRIS_TELEMETRY_DATA_DIR).
const EnvPrefix = "OSIRIS_TELEMETRY"

// Bounds of the settings, checked by Validate.
const (
	MinRetention      = time.Hour
	MaxRetentionChunk = 10000 // records deleted in one transaction; more could exceed its size
	MaxToolAttributes = 1000  // OpenTelemetry's default cardinality limit is 2000 per instrument
)

// maxRecvBytes bounds one request: the largest attachment and text fields with room to spare.
const maxRecvBytes = 1 << 20

// Config is everything the service can be told at start-up.
type Config struct {
	lifecycle.Settings
	Retention         time.Duration
	RetentionInterval time.Duration
	RetentionChunk    int
	ToolAttributes    int
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// DefaultConfig is the configuration of a plain `osiris-telemetry`.
func DefaultConfig() Config {
	return Config{
		Settings:          lifecycle.Defaults("./data/telemetry", "127.0.0.1:7102", "127.0.0.1:8102"),
		Retention:         recorder.DefaultRetentionAge,
		RetentionInterval: 10 * time.Minute,
		RetentionChunk:    recorder.DefaultRetentionChunk,
		ToolAttributes:    metrics.DefaultLimit,
	}
}

// queueUnit is what one writer item is.
const queueUnit = "writer items (a record, or a batch of them)"

// RegisterFlags declares the service's flags on fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Settings.RegisterFlags(fs, queueUnit)
	fs.DurationVar(&c.Retention, "retention", c.Retention, "age after which tool call records are deleted (totals keep them)")
	fs.DurationVar(&c.RetentionInterval, "retention-interval", c.RetentionInterval, "how often old tool call records are deleted")
	fs.IntVar(&c.RetentionChunk, "retention-chunk", c.RetentionChunk, "most records deleted in one writer step")
	fs.IntVar(&c.ToolAttributes, "max-tool-attributes", c.ToolAttributes, "distinct tool names in metrics before the rest are folded into \"other\"")
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	switch {
	case c.Retention < MinRetention:
		return fmt.Errorf("--retention must be at least %s, got %s", MinRetention, c.Retention)
	case c.RetentionInterval <= 0:
		return errors.New("--retention-interval must be positive")
	case c.RetentionChunk < 1 || c.RetentionChunk > MaxRetentionChunk:
		return fmt.Errorf("--retention-chunk must be between 1 and %d, got %d", MaxRetentionChunk, c.RetentionChunk)
	case c.ToolAttributes < 1 || c.ToolAttributes > MaxToolAttributes:
		return fmt.Errorf("--max-tool-attributes must be between 1 and %d, got %d", MaxToolAttributes, c.ToolAttributes)
	}
	return nil
}

// Service is a running telemetry service.
type Service struct {
	cfg Config
	lc  *lifecycle.Service
	rec *recorder.Recorder
}

// New opens the store, starts the writer and binds the listeners. Run serves; if Run is never
// called, Close releases everything.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc, err := openapi.Document("telemetry")
	if err != nil {
		return nil, err
	}
	lc, err := lifecycle.New(lifecycle.Spec{
		Name:         "telemetry",
		Settings:     cfg.Settings,
		OpenAPI:      doc,
		MaxRecvBytes: maxRecvBytes,
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
	telemetryv1.RegisterTelemetryServiceServer(lc.Server().GRPC(), grpcapi.New(s.rec))
	return s, nil
}

// open builds the recorder and its instruments on the opened store.
func (s *Service) open() error {
	store := badgerstore.New(s.lc.DB())
	busiest, err := recorder.BusiestTools(context.Background(), store, s.cfg.ToolAttributes)
	if err != nil {
		return err
	}
	calls, err := metrics.New(s.lc.Meter(), s.cfg.ToolAttributes, busiest)
	if err != nil {
		return err
	}
	s.rec, err = recorder.Open(store, recorder.Config{
		Queue:          s.lc.Queue(),
		Now:            s.cfg.Now,
		RetentionAge:   s.cfg.Retention,
		RetentionChunk: s.cfg.RetentionChunk,
		Observer:       calls,
	})
	if err != nil {
		return err
	}
	retain := func(ctx context.Context) { s.retainEvery(ctx, s.cfg.RetentionInterval) }
	s.lc.Attach(lifecycle.Domain{Close: s.rec.Close, QueueLen: s.rec.QueueLen, Background: []func(context.Context){retain}})
	return nil
}

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.lc.GRPCAddr() }

// HTTPAddr is the bound HTTP address.
func (s *Service) HTTPAddr() string { return s.lc.HTTPAddr() }

// Retain deletes every tool call record older than the retention age now, as the periodic
// retention does, and returns how many it deleted.
func (s *Service) Retain(ctx context.Context) (int, error) { return s.rec.Retain(ctx) }

// Run serves until ctx ends, then shuts down in order: background loops, servers, writer
// (drained), store.
func (s *Service) Run(ctx context.Context) error {
	return s.lc.Run(ctx, telemetryv1.RegisterTelemetryServiceHandler)
}

// retainEvery submits retention to the writer every interval until ctx ends.
func (s *Service) retainEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.rec.Retain(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.lc.Log().Warn("retention", "deleted", n, "err", err)
		case n > 0:
			s.lc.Log().Info("retention deleted old tool call records", "deleted", n)
		}
	}
}

// Close drains the writer, closes the store and the telemetry providers.
func (s *Service) Close() error { return s.lc.Close() }

// Run is New followed by Service.Run: the whole life of the service.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
