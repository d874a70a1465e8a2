package fanout

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/metric"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
)

// Session bookkeeping is not a guard (the audit log is): an unreachable session service never
// fails an agent's call. Each request to it is bounded, and failures are counted in
// osiris.gateway.session_errors.
const (
	sessionTimeout = 2 * time.Second
	// TouchEvery is how often a busy agent session renews its idle TTL in the session service.
	TouchEvery = time.Minute
)

// Sessions mirrors each MCP session as a session in the session service: created when the
// agent initializes, touched while it is used, closed when it disconnects.
type Sessions struct {
	client sessionv1.SessionServiceClient
	log    *slog.Logger
	errors metric.Int64Counter

	mu      sync.Mutex
	touched map[string]time.Time // last touch per open session
}

// NewSessions builds the session fan-out.
func NewSessions(client sessionv1.SessionServiceClient, meter metric.Meter, log *slog.Logger) (*Sessions, error) {
	s := &Sessions{client: client, log: log, touched: map[string]time.Time{}}
	var err error
	s.errors, err = meter.Int64Counter("osiris.gateway.session_errors", metric.WithDescription("session service requests that failed"))
	return s, err
}

// Opened creates the agent's session, labelled with its client's name and version.
func (s *Sessions) Opened(ctx context.Context, id string, params *mcp.InitializeParams) {
	labels := map[string]string{"source": "gateway"}
	if ci := params.ClientInfo; ci != nil {
		labels["client"], labels["client_version"] = truncate(ci.Name, 256), truncate(ci.Version, 256)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sessionTimeout)
	defer cancel()
	_, err := s.client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: id, Labels: labels})
	s.mu.Lock()
	s.touched[id] = time.Now()
	s.mu.Unlock()
	s.failed("create", id, err)
}

// Closed closes the agent's session with outcome ok.
func (s *Sessions) Closed(id string) {
	s.mu.Lock()
	delete(s.touched, id)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	_, err := s.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: id})
	s.failed("close", id, err)
}

// Around renews the session's idle TTL, at most once per TouchEvery.
func (s *Sessions) Around(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	id := proxy.SessionID(ctx)
	s.mu.Lock()
	last, open := s.touched[id]
	due := open && time.Since(last) >= TouchEvery
	if due {
		s.touched[id] = time.Now()
	}
	s.mu.Unlock()
	if due {
		tctx, cancel := context.WithTimeout(ctx, sessionTimeout)
		_, err := s.client.TouchSession(tctx, &sessionv1.TouchSessionRequest{Id: id})
		cancel()
		s.failed("touch", id, err)
	}
	return forward(ctx)
}

func (s *Sessions) failed(op, id string, err error) {
	if err == nil {
		return
	}
	s.errors.Add(context.Background(), 1)
	s.log.Warn("session service request failed", "op", op, "session", id, "err", err)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
