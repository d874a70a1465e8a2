package upstream

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkHTTPCall is one tools/call over streamable HTTP to the Go SDK's server (which
// answers on an event stream), with concurrent callers on one session. conns/op is how many
// TCP connections were opened per call: near 0 when they are reused.
func BenchmarkHTTPCall(b *testing.B) {
	server := newTestServer(false)
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	srv := httptest.NewUnstartedServer(handler)
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	s, err := Connect(ctx, Config{HTTP: &HTTP{URL: srv.URL}}, json.RawMessage(initParams))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		b.Fatal(err)
	}
	params := json.RawMessage(`{"name":"notify","arguments":{"n":0}}`)
	b.SetParallelism(4)
	start := conns.Load()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Call(ctx, "tools/call", params); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(conns.Load()-start)/float64(b.N), "conns/op")
}

// BenchmarkStdioCall is one tools/call over stdio to the Go SDK's server in a child.
func BenchmarkStdioCall(b *testing.B) {
	ctx := context.Background()
	s, err := Connect(ctx, Config{Stdio: &Stdio{Command: child("sdk")}}, json.RawMessage(initParams))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	params := json.RawMessage(`{"name":"notify","arguments":{"n":0}}`)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Call(ctx, "tools/call", params); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHTTPCallSDKClient is BenchmarkHTTPCall through the SDK's own client, which the
// gateway used before this package: the baseline.
func BenchmarkHTTPCallSDKClient(b *testing.B) {
	server := newTestServer(false)
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer srv.Close()
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: ownClient()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	params := &mcp.CallToolParams{Name: "notify", Arguments: map[string]any{"n": 0}}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cs.CallTool(ctx, params); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
