package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	goleak.VerifyTestMain(m)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// running is a telemetry service on free loopback ports, with a client.
type running struct {
	svc    *telemetry.Service
	client telemetryv1.TelemetryServiceClient
	conn   *grpc.ClientConn
	done   chan error
	cancel context.CancelFunc
}

func testConfig(dir string) telemetry.Config {
	cfg := telemetry.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

func start(t testing.TB, cfg telemetry.Config) *running {
	t.Helper()
	svc, err := telemetry.New(cfg, quietLog())
	if err != nil {
		t.Fatalf("start telemetry service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- svc.Run(ctx) }()
	r.conn, err = grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.client = telemetryv1.NewTelemetryServiceClient(r.conn)
	waitReady(t, "http://"+svc.HTTPAddr()+"/readyz")
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

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func okCall(session, tool string, durationMs float64) *telemetryv1.ToolCall {
	return &telemetryv1.ToolCall{SessionId: session, Tool: tool, Status: telemetryv1.CallStatus_CALL_STATUS_OK, DurationMs: durationMs}
}

func mustRecord(t testing.TB, c telemetryv1.TelemetryServiceClient, call *telemetryv1.ToolCall) *telemetryv1.RecordToolCallResponse {
	t.Helper()
	resp, err := c.RecordToolCall(context.Background(), &telemetryv1.RecordToolCallRequest{Call: call})
	if err != nil {
		t.Fatalf("record %v: %v", call, err)
	}
	return resp
}

func mustSummary(t testing.TB, c telemetryv1.TelemetryServiceClient, req *telemetryv1.GetSummaryRequest) *telemetryv1.GetSummaryResponse {
	t.Helper()
	resp, err := c.GetSummary(context.Background(), req)
	if err != nil {
		t.Fatalf("summary %v: %v", req, err)
	}
	return resp
}

// listAll pages through ListToolCalls with the given filter.
func listAll(t testing.TB, c telemetryv1.TelemetryServiceClient, req *telemetryv1.ListToolCallsRequest) []*telemetryv1.ToolCall {
	t.Helper()
	var out []*telemetryv1.ToolCall
	for {
		resp, err := c.ListToolCalls(context.Background(), req)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		out = append(out, resp.GetCalls()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// totals is what a summary or a set of records adds up to.
type totals struct {
	calls, errors, bytesIn, bytesOut uint64
	durationMs                       float64
}

func (s totals) add(c *telemetryv1.ToolCall) totals {
	s.calls++
	if c.GetStatus() == telemetryv1.CallStatus_CALL_STATUS_ERROR {
		s.errors++
	}
	s.bytesIn += c.GetBytesIn()
	s.bytesOut += c.GetBytesOut()
	s.durationMs += c.GetDurationMs()
	return s
}

func totalsOf(s *telemetryv1.GetSummaryResponse) totals {
	return totals{s.GetToolCalls(), s.GetErrors(), s.GetBytesIn(), s.GetBytesOut(), s.GetTotalDurationMs()}
}

func toolTotals(s *telemetryv1.ToolSummary) totals {
	return totals{s.GetToolCalls(), s.GetErrors(), s.GetBytesIn(), s.GetBytesOut(), s.GetTotalDurationMs()}
}

// scrape reads and parses the service's /metrics.
func scrape(t testing.TB, svc *telemetry.Service) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := httpClient().Get("http://" + svc.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// byTool sums a counter family's values per tool label.
func byTool(t testing.TB, families map[string]*dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	f := families[name]
	if f == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		tool := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "tool" {
				tool = l.GetValue()
			}
		}
		out[tool] += m.GetCounter().GetValue()
	}
	return out
}

func sum(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
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

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// recordConcurrently records calls from workers goroutines, each taking every workers-th call.
func recordConcurrently(t testing.TB, c telemetryv1.TelemetryServiceClient, calls []*telemetryv1.ToolCall, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(calls); i += workers {
				if _, err := c.RecordToolCall(context.Background(), &telemetryv1.RecordToolCallRequest{Call: calls[i]}); err != nil {
					t.Errorf("record %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}
