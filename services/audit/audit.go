// Package audit wires the audit service: Badger store, ledger (single writer and hash chain),
// gRPC and REST. The same code runs as the osiris-audit binary and inside `osiris up`.
package audit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/osirisplane/osiris/api/openapi"
	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/lifecycle"
	"github.com/osirisplane/osiris/services/audit/internal/badgerstore"
	"github.com/osirisplane/osiris/services/audit/internal/grpcapi"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
	"github.com/osirisplane/osiris/services/audit/internal/signing"
)

// EnvPrefix is the prefix of the service's environment variables (OSIRIS_AUDIT_DATA_DIR).
const EnvPrefix = "OSIRIS_AUDIT"

// Config is everything the service can be told at start-up.
type Config struct {
	lifecycle.Settings
	MaxArgumentsBytes int
	// SigningKeyFile holds the checkpoints' signed-note private key (`osiris-audit keygen`);
	// empty, the service generates one in the data dir and warns.
	SigningKeyFile string
	// KeyName names the generated key, and so the log's origin (with SigningKeyFile, the key's
	// own name is the origin).
	KeyName string
	// CheckpointInterval is the least time between two checkpoints.
	CheckpointInterval time.Duration
	// CheckpointDir receives every new checkpoint outside the store (empty: none).
	CheckpointDir string
	// Now is the wall clock and Elapsed the monotonic one (tests); the process's clocks when
	// nil (see platform/hwclock).
	Now     func() time.Time
	Elapsed func() time.Duration
}

// DefaultConfig is the configuration of a plain `osiris-audit`.
func DefaultConfig() Config {
	return Config{
		Settings:           lifecycle.Defaults("./data/audit", "127.0.0.1:7101", "127.0.0.1:8101"),
		MaxArgumentsBytes:  ledger.DefaultMaxArgumentsBytes,
		KeyName:            signing.DefaultName,
		CheckpointInterval: ledger.DefaultCheckpointInterval,
	}
}

// queueUnit is what one writer item is.
const queueUnit = "requests (an Append or an AppendBatch)"

// RegisterFlags declares the service's flags on fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Settings.RegisterFlags(fs, queueUnit)
	fs.IntVar(&c.MaxArgumentsBytes, "max-arguments-bytes", c.MaxArgumentsBytes, "largest encoded arguments of one event")
	fs.StringVar(&c.SigningKeyFile, "signing-key-file", c.SigningKeyFile, "signed-note private key that signs checkpoints (osiris-audit keygen); empty: generate one in the data dir")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", c.CheckpointInterval, "least time between two checkpoints of a growing log")
	fs.StringVar(&c.CheckpointDir, "checkpoint-dir", c.CheckpointDir, "directory that receives every new checkpoint (file \"checkpoint\"); the service refuses to start on a store behind it")
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if c.MaxArgumentsBytes < 1024 || c.MaxArgumentsBytes > 64<<20 {
		return fmt.Errorf("--max-arguments-bytes must be between 1024 and %d, got %d", 64<<20, c.MaxArgumentsBytes)
	}
	if c.CheckpointInterval < 10*time.Millisecond || c.CheckpointInterval > time.Hour {
		return fmt.Errorf("--checkpoint-interval must be between 10ms and 1h, got %s", c.CheckpointInterval)
	}
	return nil
}

// Service is a running audit service.
type Service struct {
	lc     *lifecycle.Service
	ledger *ledger.Ledger
}

// New opens the store, starts the writer and binds the listeners. Run serves; if Run is never
// called, Close releases everything.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc, err := openapi.Document("audit")
	if err != nil {
		return nil, err
	}
	lc, err := lifecycle.New(lifecycle.Spec{
		Name:         "audit",
		Settings:     cfg.Settings,
		OpenAPI:      doc,
		MaxRecvBytes: cfg.MaxArgumentsBytes + 1<<20, // arguments plus the event's other fields
		QueueUnit:    queueUnit,
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	signer, vkey, err := loadSigningKey(cfg.SigningKeyFile, cfg.DataDir, cfg.KeyName, lc.Log())
	if err != nil {
		return nil, errors.Join(err, lc.Close())
	}
	l, err := ledger.Open(badgerstore.New(lc.DB()), ledger.Config{
		Signer:             signer,
		VerifierKey:        vkey,
		CheckpointInterval: cfg.CheckpointInterval,
		CheckpointDir:      cfg.CheckpointDir,
		Log:                lc.Log(),
		MaxArgumentsBytes:  cfg.MaxArgumentsBytes,
		Queue:              lc.Queue(),
		Now:                cfg.Now,
		Elapsed:            cfg.Elapsed,
		// A failed integrity check (the tail at start, or a VerifyChain) makes the service
		// not ready until a later VerifyChain passes.
		OnHealth: func(err error) {
			reason := ""
			if err != nil {
				reason = err.Error()
			}
			lc.Server().SetDegraded("integrity", reason)
		},
	})
	if err != nil {
		return nil, errors.Join(err, lc.Close())
	}
	lc.Attach(lifecycle.Domain{Close: l.Close, QueueLen: l.QueueLen})
	s := &Service{lc: lc, ledger: l}
	if err := l.Health(); err != nil {
		lc.Log().Error("the audit log failed its integrity check at start", "err", err)
	}
	if err := s.observe(lc.Meter()); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	auditv1.RegisterAuditServiceServer(lc.Server().GRPC(), grpcapi.New(l, lc.Server().Draining()))
	return s, nil
}

func (s *Service) observe(meter metric.Meter) error {
	head, err := meter.Int64ObservableGauge("osiris.audit.head_seq", metric.WithDescription("sequence number of the last durable event"))
	if err != nil {
		return err
	}
	corrupt, err := meter.Int64ObservableGauge("osiris.audit.corrupt", metric.WithDescription("1 when the log failed its integrity check (the tail at start, or the last VerifyChain), else 0"))
	if err != nil {
		return err
	}
	verified, err := meter.Int64ObservableGauge("osiris.audit.verified_seq", metric.WithDescription("sequence number up to which the last integrity check found the chain intact"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(head, int64(s.ledger.Head()))
		bad := int64(0)
		if s.ledger.Health() != nil {
			bad = 1
		}
		o.ObserveInt64(corrupt, bad)
		o.ObserveInt64(verified, int64(s.ledger.VerifiedSeq()))
		return nil
	}, head, corrupt, verified)
	if err != nil {
		return err
	}
	return s.ledger.Clock().Register(meter)
}

// Health is nil unless the log failed an integrity check (its tail at start, or the last
// VerifyChain); the service is then not ready.
func (s *Service) Health() error { return s.ledger.Health() }

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.lc.GRPCAddr() }

// HTTPAddr is the bound HTTP address.
func (s *Service) HTTPAddr() string { return s.lc.HTTPAddr() }

// Run serves until ctx ends, then shuts down in order: servers, writer (drained), store.
func (s *Service) Run(ctx context.Context) error {
	return s.lc.Run(ctx, grpcapi.RegisterGateway(s.lc.Log()))
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
