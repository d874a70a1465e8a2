package audit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	goleak.VerifyTestMain(m)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// running is an audit service on free loopback ports, with a client.
type running struct {
	svc    *audit.Service
	client auditv1.AuditServiceClient
	conn   *grpc.ClientConn
	done   chan error
	cancel context.CancelFunc
}

// hostClock is a host's two clocks, which the test drives: run lets time pass (both
// advance), step moves the wall clock alone, as an operator or NTP would.
type hostClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func (c *hostClock) Now() time.Time         { c.mu.Lock(); defer c.mu.Unlock(); return c.wall }
func (c *hostClock) Elapsed() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.mono }
func (c *hostClock) step(d time.Duration)   { c.mu.Lock(); c.wall = c.wall.Add(d); c.mu.Unlock() }
func (c *hostClock) run(d time.Duration) {
	c.mu.Lock()
	c.wall, c.mono = c.wall.Add(d), c.mono+d
	c.mu.Unlock()
}
func (c *hostClock) drive(cfg *audit.Config) { cfg.Now, cfg.Elapsed = c.Now, c.Elapsed }

func testConfig(dir string) audit.Config {
	cfg := audit.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

func start(t testing.TB, cfg audit.Config) *running {
	t.Helper()
	svc, err := audit.New(cfg, quietLog())
	if err != nil {
		t.Fatalf("start audit service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- svc.Run(ctx) }()
	r.conn, err = grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.client = auditv1.NewAuditServiceClient(r.conn)
	// /healthz, not /readyz: a service whose log failed its integrity check serves but is
	// not ready, and the tests of that case need it running.
	waitReady(t, "http://"+svc.HTTPAddr()+"/healthz")
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop shuts the service down cleanly; calling it twice is harmless.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	r.conn.Close()
	if err := <-r.done; err != nil {
		t.Errorf("service stopped with error: %v", err)
	}
}

func event(typ auditv1.EventType, session, corr, tool string, args map[string]any) *auditv1.Event {
	e := &auditv1.Event{EventType: typ, SessionId: session, CorrelationId: corr, Tool: tool}
	if args != nil {
		s, err := structpb.NewStruct(args)
		if err != nil {
			panic(err)
		}
		e.Arguments = s
	}
	return e
}

func mustAppend(t testing.TB, c auditv1.AuditServiceClient, e *auditv1.Event) *auditv1.AppendResponse {
	t.Helper()
	resp, err := c.Append(context.Background(), &auditv1.AppendRequest{Event: e})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return resp
}

// listAll pages through ListEvents with the given filter.
func listAll(t testing.TB, c auditv1.AuditServiceClient, req *auditv1.ListEventsRequest) []*auditv1.Event {
	t.Helper()
	var out []*auditv1.Event
	for {
		resp, err := c.ListEvents(context.Background(), req)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func mustVerify(t testing.TB, c auditv1.AuditServiceClient, checked uint64) *auditv1.VerifyChainResponse {
	t.Helper()
	v, err := c.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !v.GetOk() || v.GetChecked() != checked {
		t.Fatalf("verify = ok %v, checked %d, first bad %d (%s); want ok, %d checked", v.GetOk(), v.GetChecked(), v.GetFirstBadSeq(), v.GetReason(), checked)
	}
	return v
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := httpGet(url); err == nil && resp == 200 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s not ready in 10s", url)
}

func httpGet(url string) (int, error) {
	resp, err := httpClient().Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func key(w, i int) string { return fmt.Sprintf("%d/%d", w, i) }

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
