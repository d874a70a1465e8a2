package gateway_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/osirisplane/osiris/gateway"
)

// --debug-addr is off by default and, when set, only a loopback IP and a port: profiles show
// the process's goroutines and memory.
func TestDebugAddrMustBeLoopback(t *testing.T) {
	if got := gateway.DefaultConfig().DebugAddr; got != "" {
		t.Fatalf("default --debug-addr %q, want off", got)
	}
	for addr, want := range map[string]string{
		"0.0.0.0:6060":     "must be a loopback IP address",
		"[::]:6060":        "must be a loopback IP address",
		"192.0.2.1:6060":   "must be a loopback IP address",
		":6060":            "must be a loopback IP address",
		"localhost:6060":   "must be a loopback IP address",
		"127.0.0.1":        "want IP:PORT on loopback",
		"127.0.0.1:nope":   "bad port",
		"127.0.0.1:70000":  "bad port",
		"127.0.0.1:0":      "",
		"127.0.0.2:6060":   "",
		"[::1]:6060":       "",
		"[::1]:0":          "",
		"":                 "",
		"127.0.0.1:6060/x": "bad port",
	} {
		cfg := gateway.DefaultConfig()
		cfg.Upstreams, cfg.DebugAddr = []string{"x=http://h/mcp"}, addr
		err := cfg.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("--debug-addr %q: %v, want it accepted", addr, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), "--debug-addr") || !strings.Contains(err.Error(), want)):
			t.Errorf("--debug-addr %q: %v, want an error with %q", addr, err, want)
		}
	}
}

// With --debug-addr the profiles are served there, on their own listener (never on the agents'
// port, and never the command line, which may hold the token), until the gateway stops.
func TestDebugAddrServesProfilesOnItsOwnListener(t *testing.T) {
	up, _ := upstream(t)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr()
	off := run(t, cfg)
	if off.DebugAddr() != "" {
		t.Fatalf("DebugAddr %q without --debug-addr", off.DebugAddr())
	}
	if code, _ := get(t, strings.TrimSuffix(off.URL(), "/mcp")+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("the agents' port serves /debug/pprof/: status %d", code)
	}

	cfg.DebugAddr = "127.0.0.1:0"
	resolved, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(resolved, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	base := "http://" + g.DebugAddr() + "/debug/pprof/"
	if code, body := get(t, base+"goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile: status %d, body %.200q", code, body)
	}
	if code, _ := get(t, base+"cmdline"); code == http.StatusOK {
		t.Fatal("the command line is served; it may hold --auth-token")
	}
	if code, _ := get(t, strings.TrimSuffix(g.URL(), "/mcp")+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("the agents' port serves /debug/pprof/: status %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", g.DebugAddr()); err == nil {
		c.Close()
		t.Fatal("the debug listener still accepts after the gateway stopped")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
