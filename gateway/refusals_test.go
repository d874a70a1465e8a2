package gateway_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway"
)

const testToken = "0123456789abcdef-secret"

// authed connects an agent that sends the bearer token.
func authed(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	client := &http.Client{Transport: header{"Authorization", "Bearer " + testToken, http.DefaultTransport}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// stalledAudit is an audit service whose appends wait until release is closed, then are kept.
type stalledAudit struct {
	auditv1.UnimplementedAuditServiceServer
	release chan struct{}
	mu      sync.Mutex
	events  []*auditv1.Event
}

func (s *stalledAudit) wait(ctx context.Context, events ...*auditv1.Event) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, events...)
	return nil
}

func (s *stalledAudit) Append(ctx context.Context, req *auditv1.AppendRequest) (*auditv1.AppendResponse, error) {
	return &auditv1.AppendResponse{}, s.wait(ctx, req.GetEvent())
}

func (s *stalledAudit) AppendBatch(ctx context.Context, req *auditv1.AppendBatchRequest) (*auditv1.AppendBatchResponse, error) {
	if err := s.wait(ctx, req.GetEvents()...); err != nil {
		return nil, err
	}
	return &auditv1.AppendBatchResponse{Receipts: make([]*auditv1.AppendResponse, len(req.GetEvents()))}, nil
}

func (s *stalledAudit) recorded() []*auditv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*auditv1.Event(nil), s.events...)
}

func startStalledAudit(t *testing.T) (*stalledAudit, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalledAudit{release: make(chan struct{})}
	srv := grpc.NewServer()
	auditv1.RegisterAuditServiceServer(srv, s)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return s, lis.Addr().String()
}

// An unauthenticated DELETE naming another agent's session is refused at once, even while the
// audit service is stalled, leaves the session alone, and is recorded without that session id:
// a refused request proved nothing about the session it named.
func TestRefusedDeleteIsAnsweredAtOnceAndNotRecordedUnderTheVictim(t *testing.T) {
	up, _ := upstream(t)
	audit, addr := startStalledAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.AuthToken = "127.0.0.1:0", []string{"up=" + up}, addr, testToken
	cfg.RefusalInterval = 100 * time.Millisecond
	g := run(t, cfg)
	released := sync.OnceFunc(func() { close(audit.release) })
	t.Cleanup(released) // runs before the gateway stops, so its last flush is not held
	victim := authed(t, g.URL())
	defer victim.Close()

	// The audit service holds every append: the refusal must not wait for it.
	client := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodDelete, g.URL(), nil)
	req.Header.Set("Mcp-Session-Id", victim.ID())
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("refused DELETE with the audit service stalled: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated DELETE: status %d", resp.StatusCode)
	}
	if _, err := victim.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("the victim's session after the refused DELETE: %v", err)
	}

	released()
	var rejected []*auditv1.Event
	for range 100 {
		if rejected = rejectedEvents(audit.recorded()); len(rejected) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rejected) != 1 || rejected[0].GetErrorCode() != "unauthorized" {
		t.Fatalf("the refusal was recorded as %v, want one unauthorized event", rejected)
	}
	for _, e := range audit.recorded() {
		if e.GetSessionId() == victim.ID() {
			t.Fatalf("a refused request added %v to the victim's audit trail", e)
		}
	}
}

func rejectedEvents(events []*auditv1.Event) []*auditv1.Event {
	var out []*auditv1.Event
	for _, e := range events {
		if e.GetEventType() == auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED {
			out = append(out, e)
		}
	}
	return out
}

// countOf is how many refused requests an event records (1 for an event per request).
func countOf(e *auditv1.Event) int64 {
	return max(1, int64(e.GetArguments().GetFields()["count"].GetNumberValue()))
}

// A flood of unauthenticated requests, as fast as flooders on this machine can send them for
// 30 s, while agents call tools: no agent's call fails, every refused request is counted, and
// the audit log grows by one event per source and reason per interval, not one per request.
func TestFloodOfRefusedRequests(t *testing.T) {
	const (
		floodFor = 30 * time.Second
		flooders = 8
		agents   = 4
		interval = time.Second
	)
	up, _ := upstream(t)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.AuthToken = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr(), testToken
	cfg.RefusalInterval = interval
	g := run(t, cfg)
	before, err := a.client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	deadline := began.Add(floodFor)
	var sent, refused, calls atomic.Int64
	var wg sync.WaitGroup
	flood := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: flooders}, Timeout: 10 * time.Second}
	defer flood.CloseIdleConnections()
	for i := range flooders {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, g.URL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
				req.Header.Set("Content-Type", "application/json")
				if i%2 == 1 {
					req.Header.Set("Authorization", "Bearer not-the-token-at-all")
				}
				sent.Add(1)
				resp, err := flood.Do(req)
				if err != nil {
					t.Errorf("flood request: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					refused.Add(1)
				}
			}
		})
	}
	for range agents {
		cs := authed(t, g.URL())
		wg.Go(func() {
			defer cs.Close()
			for time.Now().Before(deadline) {
				if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
					t.Errorf("authenticated call during the flood: %v", err)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if t.Failed() {
		return
	}
	if refused.Load() != sent.Load() || calls.Load() == 0 {
		t.Fatalf("%d of %d flood requests refused; %d authenticated calls", refused.Load(), sent.Load(), calls.Load())
	}

	// Every refused request is counted once the last interval is recorded.
	var rejected []*auditv1.Event
	var counted int64
	for range 100 {
		rejected = listRejected(t, a.client)
		counted = 0
		for _, e := range rejected {
			counted += countOf(e)
		}
		if counted >= sent.Load() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if counted != sent.Load() {
		t.Fatalf("%d refused requests counted in the audit log, want %d", counted, sent.Load())
	}
	// One source (loopback), two reasons: at most two events per interval, plus the interval
	// in progress when the flood ended.
	intervals := int(time.Since(began)/interval) + 1
	if len(rejected) > 2*intervals {
		t.Fatalf("%d refused requests made %d audit events in %d intervals; want at most %d", sent.Load(), len(rejected), intervals, 2*intervals)
	}
	after, err := a.client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil || !after.GetOk() {
		t.Fatalf("chain after the flood: %v %v", after, err)
	}
	grew := after.GetChecked() - before.GetChecked()
	if grew != uint64(2*calls.Load())+uint64(len(rejected)) {
		t.Fatalf("the log grew by %d events: %d calls, %d refusal events", grew, calls.Load(), len(rejected))
	}
	t.Logf("%.0f refused requests/s for %s (%d in all) while %d agents made %d calls (%.0f/s): %d refusal events (%.1f per minute)",
		float64(sent.Load())/elapsed.Seconds(), elapsed.Round(time.Second), sent.Load(), agents, calls.Load(),
		float64(calls.Load())/elapsed.Seconds(), len(rejected), float64(len(rejected))/elapsed.Minutes())
}

func listRejected(t *testing.T, c auditv1.AuditServiceClient) []*auditv1.Event {
	t.Helper()
	var out []*auditv1.Event
	req := &auditv1.ListEventsRequest{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, PageSize: 1000}
	for {
		resp, err := c.ListEvents(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetEvents()...)
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			return out
		}
	}
}

// A cross-origin browser request and a body over the limit are refused, and each refusal is
// recorded with its own code.
func TestOriginAndSizeRefusalsAreRecorded(t *testing.T) {
	up, _ := upstream(t)
	audit, addr := startStalledAudit(t)
	close(audit.release)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.MaxRequestBytes = "127.0.0.1:0", []string{"up=" + up}, addr, 1024
	cfg.RefusalInterval = 100 * time.Millisecond
	g := run(t, cfg)
	for _, tt := range []struct {
		body, origin string
		status       int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2000) + `"}}`, "", http.StatusRequestEntityTooLarge},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, "https://evil.example", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodPost, g.URL(), strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Fatalf("origin %q, %d bytes: status %d, want %d", tt.origin, len(tt.body), resp.StatusCode, tt.status)
		}
	}
	codes := map[string]int64{}
	for range 100 {
		codes = map[string]int64{}
		for _, e := range rejectedEvents(audit.recorded()) {
			codes[e.GetErrorCode()] += countOf(e)
		}
		if len(codes) == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if codes["request_too_large"] != 1 || codes["forbidden_origin"] != 1 {
		t.Fatalf("refusals recorded by code: %v", codes)
	}
}
