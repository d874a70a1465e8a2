package auditsink

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/session/internal/chatstate"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an AuditServiceClient that keeps what it is sent.
type recorder struct {
	auditv1.AuditServiceClient
	mu     sync.Mutex
	events []*auditv1.Event
}

func (r *recorder) Append(_ context.Context, req *auditv1.AppendRequest, _ ...grpc.CallOption) (*auditv1.AppendResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, req.GetEvent())
	return &auditv1.AppendResponse{Seq: uint64(len(r.events))}, nil
}

// Events are redacted with the session mask before they leave, and everything queued before
// Close is delivered.
func TestEventsAreRedactedAndDeliveredBeforeClose(t *testing.T) {
	rec := &recorder{}
	s := New(rec, Config{})
	s.Emit(sessions.Event{Kind: sessions.SessionStarted, SessionID: "s1", State: chatstate.Init,
		Labels: map[string]string{"user": "ann", "password": "hunter2", "note": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}})
	s.Emit(sessions.Event{Kind: sessions.SessionClosed, SessionID: "s1", State: chatstate.Error, Outcome: sessions.OutcomeError,
		ErrorType: "auth_error", ErrorMessage: "token xoxb-1234567890-abcdefghij rejected", Duration: 1500 * time.Millisecond})
	s.Close(context.Background())
	s.Emit(sessions.Event{Kind: sessions.SessionStarted, SessionID: "late"}) // after Close: dropped, not a panic

	if len(rec.events) != 2 {
		t.Fatalf("%d events delivered, want 2", len(rec.events))
	}
	started, closed := rec.events[0], rec.events[1]
	labels := started.GetArguments().GetFields()["labels"].GetStructValue().AsMap()
	if labels["user"] != "ann" || labels["password"] != "***" || labels["note"] != "***" {
		t.Fatalf("labels %v: want user kept, password and the GitHub token masked with ***", labels)
	}
	if started.GetEventType() != auditv1.EventType_EVENT_TYPE_SESSION_STARTED || started.GetSessionId() != "s1" {
		t.Fatalf("started %v", started)
	}
	args := closed.GetArguments().AsMap()
	if closed.GetEventType() != auditv1.EventType_EVENT_TYPE_SESSION_CLOSED || args["outcome"] != "error" ||
		args["duration_seconds"] != 1.5 || closed.GetDurationMs() != 1500 || closed.GetErrorCode() != "auth_error" {
		t.Fatalf("closed %v", closed)
	}
	if msg := closed.GetErrorMessage(); strings.Contains(msg, "xoxb-") || !strings.HasSuffix(msg, "rejected") {
		t.Fatalf("error message %q: the Slack token must be masked", msg)
	}
}
