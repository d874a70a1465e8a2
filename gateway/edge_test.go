package gateway_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway"
)

// lanIP is an address of this machine that is not loopback ("" when it has none).
func lanIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// A gateway listening on every address, reached through the machine's LAN address by a page
// that rebound its own name to it: the MCP SDK checks Host only on loopback connections, the
// gateway refuses the name on every connection. Nothing reaches the upstream or the audit log;
// a client naming the address, or a name given with --allowed-hosts, gets through.
func TestGatewayRefusesAReboundNameOnEveryAddress(t *testing.T) {
	ip := lanIP(t)
	if ip == "" {
		t.Fatal("this machine has no non-loopback IPv4 address to test with")
	}
	up, calls := upstream(t)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr = "0.0.0.0:0", []string{"up=" + up}, a.svc.GRPCAddr()
	cfg.Edge.AllowedHosts = []string{"osiris-gateway.internal"}
	g := run(t, cfg)
	port := g.URL()[strings.LastIndex(g.URL(), ":")+1 : strings.LastIndex(g.URL(), "/")]
	url := "http://" + net.JoinHostPort(ip, port) + "/mcp"
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"evil","version":"1"}}}`
	post := func(host string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(initialize))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Origin", "http://"+host)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("evil.example:" + port); code != http.StatusForbidden {
		t.Fatalf("initialize through a rebound name: %d %s, want 403", code, body)
	}
	events, err := a.client.ListEvents(context.Background(), &auditv1.ListEventsRequest{})
	if err != nil || len(events.GetEvents()) != 0 || calls.Load() != 0 {
		t.Fatalf("after the refusal: audit %v %v, upstream calls %d; want none", events.GetEvents(), err, calls.Load())
	}
	for _, host := range []string{net.JoinHostPort(ip, port), "osiris-gateway.internal:" + port} {
		if code, body := post(host); code != http.StatusOK {
			t.Fatalf("initialize with Host %s: %d %s", host, code, body)
		}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
}
