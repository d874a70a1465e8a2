// Package session wires the session service: Badger store, keeper (single writer, TTLs,
// state table, versioned values, sweeper), the audit sink, gRPC and REST. The same code runs
// as the osiris-session binary and inside `osiris up`.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/osirisplane/osiris/api/openapi"
	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/lifecycle"
	"github.com/osirisplane/osiris/services/session/internal/auditsink"
	"github.com/osirisplane/osiris/services/session/internal/badgerstore"
	"github.com/osirisplane/osiris/services/session/internal/grpcapi"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// Service is a running session service.
type Service struct {
	cfg       Config
	lc        *lifecycle.Service
	keeper    *sessions.Keeper
	sink      *auditsink.Sink  // nil without --audit-addr
	auditConn *grpc.ClientConn // nil without --audit-addr
}

// New opens the store, starts the writer, the sweeper and the audit sink, and binds the
// listeners. Run serves; if Run is never called, Close releases everything.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc, err := openapi.Document("session")
	if err != nil {
		return nil, err
	}
	lc, err := lifecycle.New(lifecycle.Spec{
		Name:         "session",
		Settings:     cfg.Settings,
		OpenAPI:      doc,
		MaxRecvBytes: cfg.MaxValueBytes + 64<<10, // the value plus the request's other fields
		QueueUnit:    "writes",
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, lc: lc}
	if err := s.open(); err != nil {
		return nil, errors.Join(err, s.closeSink(context.Background()), lc.Close())
	}
	sessionv1.RegisterSessionServiceServer(lc.Server().GRPC(), grpcapi.New(s.keeper))
	return s, nil
}

// open builds everything on the store; on error, New releases what it built.
func (s *Service) open() error {
	cfg := s.cfg
	meter := s.lc.Meter()
	m, err := newMetrics(meter)
	if err != nil {
		return err
	}
	var events sessions.Sink
	if cfg.AuditAddr != "" {
		s.auditConn, err = grpc.NewClient(cfg.AuditAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("--audit-addr %q: %w", cfg.AuditAddr, err)
		}
		s.sink = auditsink.New(auditv1.NewAuditServiceClient(s.auditConn), auditsink.Config{
			Queue: cfg.AuditQueue, Timeout: cfg.AuditTimeout, Dropped: m.auditDropped, Log: s.lc.Log(),
		})
		events = s.sink
	}
	s.keeper, err = sessions.Open(badgerstore.New(s.lc.DB()), sessions.Config{
		DefaultIdleTTL: cfg.IdleTTL, IdleTTLLimit: cfg.IdleTTLLimit,
		DefaultMaxTTL: cfg.MaxTTL, MaxTTLLimit: cfg.MaxTTLLimit,
		ClosedRetention: cfg.ClosedRetention, SweepInterval: cfg.SweepInterval,
		MaxSessions: cfg.MaxSessions, MaxKeysPerSession: cfg.MaxKeysPerSession,
		MaxValueBytes: cfg.MaxValueBytes, MaxHistory: cfg.MaxHistory,
		Queue: s.lc.Queue(),
		Now:   cfg.Now, Events: events, OnSweep: m.sweep, Log: s.lc.Log(),
	})
	if err != nil {
		return err
	}
	// The keeper closes the store; the audit sink then delivers what its writes queued.
	s.lc.Attach(lifecycle.Domain{
		Close:    func(ctx context.Context) error { return errors.Join(s.keeper.Close(ctx), s.closeSink(ctx)) },
		QueueLen: s.keeper.QueueLen,
	})
	return m.observe(meter, s.keeper)
}

// closeSink delivers queued audit events (within ctx) and closes the connection.
func (s *Service) closeSink(ctx context.Context) error {
	if s.sink != nil {
		s.sink.Close(ctx)
	}
	if s.auditConn != nil {
		return s.auditConn.Close()
	}
	return nil
}

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.lc.GRPCAddr() }

// HTTPAddr is the bound HTTP address.
func (s *Service) HTTPAddr() string { return s.lc.HTTPAddr() }

// Sweep removes every session that is due now and purges what removed sessions owned, without
// waiting for the sweeper's next tick. Tests call it after moving their clock.
func (s *Service) Sweep(ctx context.Context) (sessions.SweepReport, error) {
	return s.keeper.Sweep(ctx)
}

// Run serves until ctx ends, then shuts down in order: servers, sweeper and writer (drained),
// store, audit sink.
func (s *Service) Run(ctx context.Context) error {
	return s.lc.Run(ctx, sessionv1.RegisterSessionServiceHandler)
}

// Close drains the writer, closes the store, delivers queued audit events (within the
// shutdown timeout) and closes the telemetry providers.
func (s *Service) Close() error { return s.lc.Close() }

// Run is New followed by Service.Run: the whole life of the service.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
