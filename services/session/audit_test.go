package session_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/audit"
)

// startAudit runs a real audit service on free ports and returns its gRPC address and a
// client.
func startAudit(t *testing.T) (string, auditv1.AuditServiceClient) {
	t.Helper()
	cfg := audit.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	svc, err := audit.New(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, "http://"+svc.HTTPAddr()+"/readyz")
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("audit service: %v", err)
		}
	})
	return svc.GRPCAddr(), auditv1.NewAuditServiceClient(conn)
}

// auditEvents waits until the audit log holds want events of the session and returns them.
func auditEvents(t *testing.T, c auditv1.AuditServiceClient, session string, want int) []*auditv1.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.ListEvents(context.Background(), &auditv1.ListEventsRequest{SessionId: session})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetEvents()) >= want || time.Now().After(deadline) {
			if len(resp.GetEvents()) != want {
				t.Fatalf("audit holds %d events of %s, want %d", len(resp.GetEvents()), session, want)
			}
			return resp.GetEvents()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Lifecycle events reach a real audit service: session_started on create, session_closed on
// close (with the outcome, the duration and the error) and on expiry; secrets in labels and
// error messages are redacted before they leave.
func TestLifecycleEventsReachTheAuditService(t *testing.T) {
	auditAddr, auditClient := startAudit(t)
	clk := newClock()
	cfg := testConfig(t.TempDir())
	cfg.Now = clk.Now
	cfg.AuditAddr = auditAddr
	r := start(t, cfg)
	ctx := context.Background()

	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "audited", Labels: map[string]string{"user": "ann", "api_token": "s3cr3t-value"}})
	clk.Advance(90 * time.Second)
	if _, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: "audited", ErrorType: "connection_error", ErrorMessage: "dial postgres://app:hunter2@db:5432 failed"}); err != nil {
		t.Fatal(err)
	}
	events := auditEvents(t, auditClient, "audited", 2)
	started, closed := events[0], events[1]
	if started.GetEventType() != auditv1.EventType_EVENT_TYPE_SESSION_STARTED || closed.GetEventType() != auditv1.EventType_EVENT_TYPE_SESSION_CLOSED {
		t.Fatalf("event types %s, %s", started.GetEventType(), closed.GetEventType())
	}
	labels := started.GetArguments().GetFields()["labels"].GetStructValue().GetFields()
	// Masked by the session service ("***"), and again by the audit service's own redaction.
	if tok := labels["api_token"].GetStringValue(); labels["user"].GetStringValue() != "ann" || tok == "s3cr3t-value" || !strings.HasPrefix(tok, "***") {
		t.Fatalf("started labels %v: want user kept and api_token masked", labels)
	}
	args := closed.GetArguments().AsMap()
	if args["outcome"] != "error" || args["duration_seconds"] != 90.0 || closed.GetDurationMs() != 90000 || closed.GetErrorCode() != "connection_error" {
		t.Fatalf("closed event %v", closed)
	}
	if msg := closed.GetErrorMessage(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, "postgres://app:") {
		t.Fatalf("closed error message %q: the password must be masked, the rest kept", msg)
	}

	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "forgotten", IdleTtl: ttl(time.Minute)})
	clk.Advance(2 * time.Minute)
	r.sweep(t)
	events = auditEvents(t, auditClient, "forgotten", 2)
	if events[1].GetEventType() != auditv1.EventType_EVENT_TYPE_SESSION_CLOSED || events[1].GetArguments().AsMap()["outcome"] != "expired" {
		t.Fatalf("expiry event %v", events[1])
	}
}

// blockingAudit is an audit service that never answers: each Append waits until its caller
// gives up.
type blockingAudit struct {
	auditv1.UnimplementedAuditServiceServer
}

func (blockingAudit) Append(ctx context.Context, _ *auditv1.AppendRequest) (*auditv1.AppendResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// When the audit service is down or hangs, session calls still succeed and do not wait; the
// events that cannot be delivered are counted in osiris.session.audit_dropped.
func TestAuditDownOrSlowNeverFailsOrBlocksSessionCalls(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close() // nothing listens there now
		cfg := testConfig(t.TempDir())
		cfg.AuditAddr = addr
		r := start(t, cfg)
		for i := range 20 {
			mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: sid("down", i)})
		}
		waitMetric(t, r.svc.HTTPAddr(), "osiris_session_audit_dropped_total", 20)
	})
	t.Run("hanging", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		auditv1.RegisterAuditServiceServer(srv, blockingAudit{})
		go srv.Serve(lis)
		defer srv.Stop()
		cfg := testConfig(t.TempDir())
		cfg.AuditAddr = lis.Addr().String()
		cfg.AuditQueue = 4
		cfg.AuditTimeout = time.Hour // only shutdown ends the Append in flight
		cfg.ShutdownTimeout = time.Second
		r := start(t, cfg)
		for i := range 50 {
			mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: sid("hang", i)})
		}
		// One event is in flight, 4 wait in the queue, the other 45 were dropped at once (46
		// if the sender had not yet taken the first event off the queue).
		if got := waitMetric(t, r.svc.HTTPAddr(), "osiris_session_audit_dropped_total", 45, `reason="queue_full"`); got > 46 {
			t.Fatalf("dropped %v for a full queue, want 45", got)
		}
		r.stop(t) // shutdown cuts the hanging Append after the shutdown timeout
	})
}
