package gateway_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/platform/loadtest"
)

var (
	benchFor      = flag.Duration("bench.duration", 3*time.Second, "how long each round drives one target")
	benchRounds   = flag.Int("bench.rounds", 3, "rounds per target; the median round is reported")
	benchSessions = flag.Int("bench.sessions", 32, "concurrent MCP sessions")
)

// everythingServer runs the SDK's conformance server (pinned in tools/go.mod, built by
// `make tools`) as the upstream, over streamable HTTP.
func everythingServer(b *testing.B) string {
	b.Helper()
	bin, err := filepath.Abs("../.tools/everything-server")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("%s missing: run make tools", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-http", addr, "-stateless=false")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr + "/mcp"
		}
		if time.Now().After(deadline) {
			b.Fatal("everything-server did not start")
		}
	}
}

func sessions(b *testing.B, url string) []*mcp.ClientSession {
	b.Helper()
	out := make([]*mcp.ClientSession, *benchSessions)
	for i := range out {
		// Each session has its own HTTP client, as each agent would: on one shared
		// http.DefaultClient (two idle connections per host) most calls would open a new TCP
		// connection, and the benchmark would measure that churn on both paths.
		client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).
			Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: client}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cs.Close() })
		out[i] = cs
	}
	return out
}

// BenchmarkGatewayVsDirect calls test_simple_text on the everything-server with 32 concurrent
// sessions, directly and through the gateway with full fan-out (audit synced before and after
// every call, telemetry, cache lookup), in alternating rounds of the same run, and reports
// both rates, the ratio and latencies. Target (issue 6): gateway/direct >= 0.4.
func BenchmarkGatewayVsDirect(b *testing.B) {
	up := everythingServer(b)
	a := startAudit(b)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr = "127.0.0.1:0", []string{"everything=" + up}, a.svc.GRPCAddr()
	g := run(b, cfg)
	direct, through := sessions(b, up), sessions(b, g.URL())
	op := func(s []*mcp.ClientSession) loadtest.Op {
		return func(ctx context.Context, w, _ int) error {
			res, err := s[w].CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text", Arguments: map[string]any{}})
			if err == nil && res.IsError {
				err = fmt.Errorf("tool error: %v", res.Content)
			}
			return err
		}
	}
	var ds, gs []loadtest.Result
	for range *benchRounds {
		ds = append(ds, loadtest.Run(context.Background(), *benchSessions, *benchFor, op(direct)))
		gs = append(gs, loadtest.Run(context.Background(), *benchSessions, *benchFor, op(through)))
	}
	d, gw := loadtest.Median(ds), loadtest.Median(gs)
	if d.Errors+gw.Errors > 0 {
		b.Fatalf("errors: direct %d (%v), gateway %d (%v)", d.Errors, d.FirstErr, gw.Errors, gw.FirstErr)
	}
	b.ReportMetric(d.PerSecond(), "direct/s")
	b.ReportMetric(gw.PerSecond(), "gateway/s")
	b.ReportMetric(gw.PerSecond()/d.PerSecond(), "gateway/direct")
	b.ReportMetric(float64(d.P50.Microseconds())/1000, "direct-p50-ms")
	b.ReportMetric(float64(d.P99.Microseconds())/1000, "direct-p99-ms")
	b.ReportMetric(float64(gw.P50.Microseconds())/1000, "gateway-p50-ms")
	b.ReportMetric(float64(gw.P99.Microseconds())/1000, "gateway-p99-ms")
	b.ReportMetric(0, "ns/op")
}
