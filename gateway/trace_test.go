package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/osirisplane/osiris/gateway"
)

// The agent's W3C trace context, sent as an HTTP header, reaches the upstream both in the
// request's _meta and in the HTTP headers of the upstream call: neither exists unless the
// gateway read it and wrote it on.
func TestTraceContextPropagatesToTheUpstream(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	var mu sync.Mutex
	var inMeta, inHeader string
	s := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "t"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		mu.Lock()
		inMeta, _ = req.Params.Meta["traceparent"].(string)
		mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.Header.Get("traceparent"), traceID) {
			mu.Lock()
			inHeader = r.Header.Get("traceparent")
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr = "127.0.0.1:0", []string{"up=" + srv.URL}, a.svc.GRPCAddr()
	g := run(t, cfg)
	client := &http.Client{Transport: header{"traceparent", "00-" + traceID + "-00f067aa0ba902b7-01", http.DefaultTransport}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: g.URL(), HTTPClient: client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "t", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(inMeta, traceID) {
		t.Errorf("upstream _meta traceparent %q, want trace %s", inMeta, traceID)
	}
	if !strings.Contains(inHeader, traceID) {
		t.Errorf("upstream HTTP traceparent %q, want trace %s", inHeader, traceID)
	}
}

// header adds one header to every request.
type header struct {
	name, value string
	next        http.RoundTripper
}

func (h header) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return h.next.RoundTrip(r)
}
