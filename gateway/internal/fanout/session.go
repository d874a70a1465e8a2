package fanout

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// Session bookkeeping is not a guard (the audit log is): an unreachable session service never
// fails or slows an agent's call. Creating a session waits for the service (bounded), so the
// built-in tools find it; touches are queued and sent in the background. Each request is
// bounded, and failures are counted in osiris.gateway.session_errors.
const (
	sessionTimeout = 2 * time.Second
	// TouchEvery is how often a busy agent session renews its idle TTL in the session service.
	TouchEvery = time.Minute
	// MaxPendingTouches bounds the sessions waiting for a touch. Past it a touch is dropped and
	// counted as an error; the session's next call after TouchEvery queues it again.
	MaxPendingTouches = 10_000
)

// Sessions mirrors each MCP session as a session in the session service: created when the
// agent initializes, touched while it is used, re-created if the service has lost it, closed
// when the agent disconnects.
type Sessions struct {
	client     sessionv1.SessionServiceClient
	log        *slog.Logger
	errors     metric.Int64Counter
	idleTTL    time.Duration
	touchEvery time.Duration

	mu      sync.Mutex
	open    map[string]*mirror
	queue   []string // sessions due for a touch, each at most once
	running bool     // a toucher is draining the queue
	closed  bool
	toucher sync.WaitGroup
}

// mirror is what the gateway keeps of one open session: enough to create it again.
type mirror struct {
	labels  map[string]string
	touched time.Time
	queued  bool
}

// NewSessions builds the session fan-out for a gateway that closes agent sessions idle for
// sessionTimeout. Each mirror asks for an idle TTL of sessionTimeout plus TouchEvery: touches
// are at most TouchEvery apart, so the mirror outlives the agent session it mirrors.
func NewSessions(client sessionv1.SessionServiceClient, sessionTimeout time.Duration, meter metric.Meter, log *slog.Logger) (*Sessions, error) {
	s := &Sessions{client: client, log: log, idleTTL: sessionTimeout + TouchEvery, touchEvery: TouchEvery, open: map[string]*mirror{}}
	var err error
	s.errors, err = meter.Int64Counter("osiris.gateway.session_errors", metric.WithDescription("session service requests that failed, and touches dropped"))
	return s, err
}

// Opened creates the agent's session, labelled with its client's name and version.
func (s *Sessions) Opened(ctx context.Context, id string, params *mcp.InitializeParams) {
	labels := map[string]string{"source": "gateway"}
	if params != nil && params.ClientInfo != nil {
		ci := params.ClientInfo
		labels["client"], labels["client_version"] = clipText(ci.Name, 256), clipText(ci.Version, 256)
	}
	s.mu.Lock()
	s.open[id] = &mirror{labels: labels, touched: time.Now()}
	s.mu.Unlock()
	s.failed("create", id, s.create(context.WithoutCancel(ctx), id, labels))
}

func (s *Sessions) create(ctx context.Context, id string, labels map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	_, err := s.client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: id, Labels: labels, IdleTtl: durationpb.New(s.idleTTL)})
	return err
}

// Closed closes the agent's session with outcome ok.
func (s *Sessions) Closed(id string) {
	s.mu.Lock()
	delete(s.open, id)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	_, err := s.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: id})
	s.failed("close", id, err)
}

// Around queues a touch of the call's session, at most once per TouchEvery; the call goes on
// at once.
func (s *Sessions) Around(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
	s.due(call.Session)
	return forward(ctx)
}

// due queues a touch of session id if one is due, and starts a toucher if none runs.
func (s *Sessions) due(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.open[id]
	if m == nil || s.closed || m.queued || time.Since(m.touched) < s.touchEvery {
		return
	}
	m.touched = time.Now()
	if len(s.queue) >= MaxPendingTouches {
		s.errors.Add(context.Background(), 1)
		return
	}
	m.queued = true
	s.queue = append(s.queue, id)
	if !s.running {
		s.running = true
		s.toucher.Add(1)
		go s.drain()
	}
}

// drain touches the queued sessions until none waits, then ends.
func (s *Sessions) drain() {
	defer s.toucher.Done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.closed {
			s.running = false
			s.mu.Unlock()
			return
		}
		id := s.queue[0]
		s.queue = s.queue[1:]
		m := s.open[id]
		if m != nil {
			m.queued = false
		}
		s.mu.Unlock()
		if m != nil {
			s.touch(id, m.labels)
		}
	}
}

// touch renews session id's idle TTL. A session the service does not know (its TTL ran out
// while the gateway could not reach the service, the service lost it, or creating it failed)
// is created again, unless the agent has gone meanwhile.
func (s *Sessions) touch(id string, labels map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	_, err := s.client.TouchSession(ctx, &sessionv1.TouchSessionRequest{Id: id})
	cancel()
	if status.Code(err) != codes.NotFound {
		s.failed("touch", id, err)
		return
	}
	s.mu.Lock()
	_, open := s.open[id]
	s.mu.Unlock()
	if open {
		s.log.Info("session service lost the session; creating it again", "session", id)
		s.failed("create", id, s.create(context.Background(), id, labels))
	}
}

// Close stops touching sessions and waits for a touch in progress (at most one request).
func (s *Sessions) Close() {
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
	s.toucher.Wait()
}

func (s *Sessions) failed(op, id string, err error) {
	if err == nil {
		return
	}
	s.errors.Add(context.Background(), 1)
	s.log.Warn("session service request failed", "op", op, "session", id, "err", err)
}
