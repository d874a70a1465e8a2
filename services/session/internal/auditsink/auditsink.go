// Package auditsink sends session lifecycle events to the audit service.
//
// A session call must never fail or wait because the audit service is down or slow. So Emit
// only puts the event in a bounded in-memory queue, without blocking, and one goroutine drains
// the queue into AuditService.Append, one event at a time, each with a deadline. What cannot be
// queued (the queue is full) or delivered (Append failed) is dropped and counted, with the
// reason, in the counter osiris.session.audit_dropped. Events are redacted before they leave
// (session mask "***"), as the original redacted every session event before writing it.
package auditsink

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/redact"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// Defaults of Config.
const (
	DefaultQueue   = 1024
	DefaultTimeout = 2 * time.Second
)

// Config tunes a Sink.
type Config struct {
	// Queue is how many events may wait for delivery; more are dropped.
	Queue int
	// Timeout bounds one Append.
	Timeout time.Duration
	// Dropped counts dropped events, with attribute reason (queue_full, send_failed, shutdown).
	Dropped metric.Int64Counter
	Log     *slog.Logger
}

// Sink implements sessions.Sink.
type Sink struct {
	client   auditv1.AuditServiceClient
	cfg      Config
	redactor *redact.Redactor
	queue    chan sessions.Event
	reasons  map[string]metric.MeasurementOption

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	// stop ends delivery at shutdown once Close's deadline has passed.
	stop context.Context
	halt context.CancelFunc
	done chan struct{}
}

// New starts the goroutine that delivers to client. Call Close to stop it.
func New(client auditv1.AuditServiceClient, cfg Config) *Sink {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{
		client:   client,
		cfg:      cfg,
		redactor: redact.New(redact.SessionMask),
		queue:    make(chan sessions.Event, cfg.Queue),
		reasons:  map[string]metric.MeasurementOption{},
		done:     make(chan struct{}),
	}
	s.stop, s.halt = context.WithCancel(context.Background())
	for _, r := range []string{"queue_full", "send_failed", "shutdown"} {
		s.reasons[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	go s.run()
	return s
}

// Emit queues e for delivery, or drops it when the queue is full. It never blocks.
func (s *Sink) Emit(e sessions.Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.drop("shutdown", 1)
		return
	}
	select {
	case s.queue <- e:
	default:
		s.drop("queue_full", 1)
	}
}

// Close stops intake and delivers what is queued until ctx ends; the rest is dropped.
func (s *Sink) Close(ctx context.Context) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.halt() // cut the Append in flight; what is still queued is dropped
		<-s.done
	}
	s.halt()
}

func (s *Sink) drop(reason string, n int) {
	if s.cfg.Dropped != nil {
		s.cfg.Dropped.Add(context.Background(), int64(n), s.reasons[reason])
	}
}

func (s *Sink) run() {
	defer close(s.done)
	failing := false
	for e := range s.queue {
		if s.stop.Err() != nil {
			s.drop("shutdown", 1)
			continue
		}
		ctx, cancel := context.WithTimeout(s.stop, s.cfg.Timeout)
		_, err := s.client.Append(ctx, &auditv1.AppendRequest{Event: s.event(e)})
		cancel()
		if err != nil {
			s.drop("send_failed", 1)
			if !failing { // log the change, not every failure
				s.cfg.Log.Warn("audit service unreachable; dropping session events until it is back", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			s.cfg.Log.Info("audit service reachable again")
		}
		failing = false
	}
}

// event is the audit form of e, redacted.
func (s *Sink) event(e sessions.Event) *auditv1.Event {
	args := map[string]any{"state": e.State.String()}
	if len(e.Labels) > 0 {
		labels := make(map[string]any, len(e.Labels))
		for k, v := range e.Labels {
			labels[k] = v
		}
		args["labels"] = labels
	}
	out := &auditv1.Event{SessionId: e.SessionID, EventType: auditv1.EventType_EVENT_TYPE_SESSION_STARTED}
	if e.Kind == sessions.SessionClosed {
		out.EventType = auditv1.EventType_EVENT_TYPE_SESSION_CLOSED
		args["outcome"] = e.Outcome
		args["duration_seconds"] = e.Duration.Seconds()
		out.DurationMs = float64(e.Duration.Microseconds()) / 1000
		out.ErrorCode = s.redactor.String(e.ErrorType)
		out.ErrorMessage = s.redactor.String(e.ErrorMessage)
	}
	if st, err := structpb.NewStruct(args); err == nil {
		out.Arguments = s.redactor.Struct(st)
	}
	return out
}
