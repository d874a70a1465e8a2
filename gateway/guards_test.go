package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway"
)

func TestBearerTokenIsRequiredAndRefusalsAudited(t *testing.T) {
	up, _ := upstream(t)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	const token = "0123456789abcdef-secret"
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.AuthToken = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr(), token
	cfg.RefusalInterval = 100 * time.Millisecond
	g := run(t, cfg)

	for _, header := range []string{"", "Bearer wrong-token-0123456789"} {
		req, _ := http.NewRequest(http.MethodPost, g.URL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("Authorization %q: status %d", header, resp.StatusCode)
		}
	}
	// Recorded within an interval, one event per source and reason, with the count.
	var rejected *auditv1.ListEventsResponse
	for range 100 {
		var err error
		rejected, err = a.client.ListEvents(context.Background(), &auditv1.ListEventsRequest{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED})
		if err != nil {
			t.Fatal(err)
		}
		if len(rejected.GetEvents()) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rejected.GetEvents()) != 2 || rejected.GetEvents()[0].GetErrorCode() != "unauthorized" {
		t.Fatalf("rejections audited: %v", rejected.GetEvents())
	}
	for _, e := range rejected.GetEvents() {
		if n := e.GetArguments().GetFields()["count"].GetNumberValue(); n != 1 || e.GetSessionId() != "" {
			t.Fatalf("refusal recorded as %v, want count 1 and no session", e)
		}
		if strings.Contains(e.String(), "wrong-token") {
			t.Fatal("the offered token reached the audit log")
		}
	}
	client := &http.Client{Transport: header{"Authorization", "Bearer " + token, http.DefaultTransport}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: g.URL(), HTTPClient: client}, nil)
	if err != nil {
		t.Fatalf("with the right token: %v", err)
	}
	defer cs.Close()
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
}

func TestStuckUpstreamTimesOutWithAClearError(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "stuck"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
		return &mcp.CallToolResult{}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.CallTimeout = "127.0.0.1:0", []string{"slow=" + srv.URL}, a.svc.GRPCAddr(), 300*time.Millisecond
	g := run(t, cfg)
	cs := agent(t, g.URL())
	defer cs.Close()
	began := time.Now()
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "stuck", Arguments: map[string]any{}})
	var rpc *jsonrpc.Error
	if !errors.As(err, &rpc) || !strings.Contains(rpc.Message, "timed out after 300ms") {
		t.Fatalf("stuck call: %v, want a timeout error", err)
	}
	if time.Since(began) > 5*time.Second {
		t.Fatalf("the timeout did not cut the call short: %v", time.Since(began))
	}
	failed, err := a.client.ListEvents(context.Background(), &auditv1.ListEventsRequest{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED})
	if err != nil || len(failed.GetEvents()) != 1 {
		t.Fatalf("timed-out call audited as failed: %v %v", failed.GetEvents(), err)
	}
}

func TestBadConfigIsAOneLineError(t *testing.T) {
	tests := []struct {
		name string
		edit func(*gateway.Config)
		want string
	}{
		{"no upstream", func(c *gateway.Config) {}, "at least one --upstream or --upstream-stdio"},
		{"bad url", func(c *gateway.Config) { c.Upstreams = []string{"x=ftp://h"} }, "want NAME=http(s)://HOST/PATH"},
		{"short token", func(c *gateway.Config) { c.Upstreams, c.AuthToken = []string{"x=http://h/mcp"}, "short" }, "at least 16 bytes"},
		{"both tokens", func(c *gateway.Config) {
			c.Upstreams, c.AuthToken, c.AuthTokenFile = []string{"x=http://h/mcp"}, "0123456789abcdef", "/f"
		}, "not both"},
		{"zero timeout", func(c *gateway.Config) { c.Upstreams, c.CallTimeout = []string{"x=http://h/mcp"}, 0 }, "--call-timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := gateway.DefaultConfig()
			tt.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Validate() = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}
