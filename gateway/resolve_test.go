package gateway_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/osirisplane/osiris/gateway"
)

// onceReadable makes path a pipe that gives token to its first reader and nothing after, as
// `--auth-token-file <(pass show gateway)` does. It returns how many times its writer opened
// it (more than there were readers: a writer opens at once while a reader still holds it).
func onceReadable(t *testing.T, token string) (string, *atomic.Int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	var opened atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			w, err := os.OpenFile(path, os.O_WRONLY, 0) // waits for a reader
			if err != nil {
				return
			}
			select {
			case <-stop:
				w.Close()
				return
			default:
			}
			if opened.Add(1) == 1 {
				w.WriteString(token + "\n")
			}
			w.Close()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		for range 100 { // a reader that gives up at once lets the writer see stop
			if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				time.Sleep(5 * time.Millisecond)
				r.Close()
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		t.Error("the pipe's writer did not stop")
	})
	return path, &opened
}

// A token file read at validation must be the token the gateway uses: read once, a file that
// cannot be read again (a pipe, a file removed or made unreadable after start-up checks) never
// switches authentication off. A token file that cannot be read stops start-up.
func TestTokenFileIsReadOnce(t *testing.T) {
	path, opened := onceReadable(t, testToken)
	up, _ := upstream(t)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.AuthTokenFile = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr(), path
	g := run(t, cfg)
	resp, err := http.Post(g.URL(), "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("request without the token: status %d after the token file was read %d times; want 401", resp.StatusCode, opened.Load())
	}
	cs := authed(t, g.URL())
	cs.Close()

	cfg.AuthTokenFile = filepath.Join(t.TempDir(), "missing")
	if err := gateway.Run(context.Background(), cfg, quiet()); err == nil || !strings.Contains(err.Error(), "--auth-token-file") {
		t.Fatalf("start-up with an unreadable token file: %v, want it to fail", err)
	}
}

// The effective configuration is logged at start with its secrets hidden.
func TestEffectiveConfigurationHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.AuthTokenFile = tokenFile
	cfg.Upstreams = []string{"web=https://user:hunter2-password@example.com/mcp?key=sk-live-123"}
	cfg.UpstreamsStdio = []string{"db=/bin/sh --password s3cret-arg"}
	resolved, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("gateway configuration", "config", resolved)
	for _, secret := range []string{testToken, "hunter2-password", "sk-live-123", "s3cret-arg"} {
		if strings.Contains(out.String(), secret) {
			t.Fatalf("the logged configuration shows %q:\n%s", secret, out.String())
		}
	}
	for _, want := range []string{`"auth-token":"set from ` + tokenFile + ` (redacted)"`, "web=https://user:xxxxx@example.com/mcp?redacted", "db=/bin/sh (2 arguments, not shown)", `"refusal-interval"`} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the logged configuration lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRefusalIntervalIsBounded(t *testing.T) {
	for _, d := range []time.Duration{0, 50 * time.Millisecond, 2 * time.Hour} {
		cfg := gateway.DefaultConfig()
		cfg.Upstreams, cfg.RefusalInterval = []string{"x=http://h/mcp"}, d
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--refusal-interval must be between 100ms and 1h0m0s") {
			t.Fatalf("--refusal-interval %s: %v", d, err)
		}
	}
}

// A stdio upstream whose command cannot be found stops start-up with a line naming it,
// instead of a gateway that says "serving" and fails every initialize with code 0 (issue 12,
// defect 9). An upstream named in --upstream-shared must exist.
func TestUpstreamSettingsThatCannotWorkStopStartUp(t *testing.T) {
	for _, tc := range []struct {
		stdio, shared []string
		idle          time.Duration
		want          string
	}{
		{stdio: []string{"db=/nonexistent/mcp-db --flag"}, want: `--upstream-stdio "db=/nonexistent/mcp-db --flag": exec: "/nonexistent/mcp-db": stat /nonexistent/mcp-db: no such file or directory`},
		{stdio: []string{"db=mcp-no-such-command-anywhere"}, want: `executable file not found in $PATH`},
		{stdio: []string{"db=/bin/cat"}, shared: []string{"web"}, want: `--upstream-shared "web": no upstream has that name`},
		{stdio: []string{"db=/bin/cat"}, idle: -time.Second, want: `--upstream-idle must not be negative`},
	} {
		cfg := gateway.DefaultConfig()
		cfg.UpstreamsStdio, cfg.UpstreamsShared, cfg.UpstreamIdle = tc.stdio, tc.shared, tc.idle
		_, err := cfg.Complete()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc, err, tc.want)
		}
	}
}
