// Package mcpdiff is the differential test of issue 12: the official TypeScript MCP SDK
// client (client.mjs) drives the TypeScript reference server
// @modelcontextprotocol/server-everything once directly and once through the Osiris gateway,
// and the two transcripts must be equal once what is random by nature and the gateway's
// documented _meta keys are normalised away (normalise_test.go). Every difference is listed.
//
// The Node packages are pinned in package-lock.json and installed by `make tools`
// (npm ci in this directory).
package mcpdiff

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/services/audit"
	"github.com/osirisplane/osiris/services/cache"
	"github.com/osirisplane/osiris/services/session"
	"github.com/osirisplane/osiris/services/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clientTimeout bounds one run of client.mjs (which bounds itself at 100 s).
const clientTimeout = 150 * time.Second

// node finds node and the pinned packages, or fails with the command that fixes it: a
// missing toolchain must not pass as a skipped test.
func node(t *testing.T) (nodePath, everything string) {
	t.Helper()
	nodePath, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: install Node 20 (apt-get install -y nodejs), then run `make tools`")
	}
	everything, err = filepath.Abs("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{everything, "node_modules/@modelcontextprotocol/sdk/package.json"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is missing: run `make tools` (or `npm ci --prefix e2e/mcpdiff`)", f)
		}
	}
	return nodePath, everything
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type runner interface {
	Run(ctx context.Context) error
}

// serve runs a service until the test ends.
func serve(t *testing.T, svc runner) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%T: %v", svc, err)
		}
	})
}

// services starts the four services on free loopback ports, as `osiris up` does, and returns
// a gateway configuration pointing at them, without built-in tools (they add to tools/list
// by design; the comparison is of what passes through).
func services(t *testing.T) gateway.Config {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	const anyPort = "127.0.0.1:0"
	ac := audit.DefaultConfig()
	ac.DataDir, ac.GRPCAddr, ac.HTTPAddr = t.TempDir(), anyPort, anyPort
	a, err := audit.New(ac, quiet())
	must(err)
	serve(t, a)
	tc := telemetry.DefaultConfig()
	tc.DataDir, tc.GRPCAddr, tc.HTTPAddr = t.TempDir(), anyPort, anyPort
	tel, err := telemetry.New(tc, quiet())
	must(err)
	serve(t, tel)
	sc := session.DefaultConfig()
	sc.DataDir, sc.GRPCAddr, sc.HTTPAddr, sc.AuditAddr = t.TempDir(), anyPort, anyPort, a.GRPCAddr()
	s, err := session.New(sc, quiet())
	must(err)
	serve(t, s)
	cc := cache.DefaultConfig()
	cc.DataDir, cc.GRPCAddr, cc.HTTPAddr = t.TempDir(), anyPort, anyPort
	c, err := cache.New(cc, quiet())
	must(err)
	serve(t, c)

	g := gateway.DefaultConfig()
	g.HTTPAddr, g.BuiltinTools = anyPort, false
	g.AuditAddr, g.TelemetryAddr, g.SessionAddr, g.CacheAddr = a.GRPCAddr(), tel.GRPCAddr(), s.GRPCAddr(), c.GRPCAddr()
	return g
}

// syncBuffer collects a process's or the gateway's output for the failure message.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway runs the gateway with cfg until the test ends; its log goes to logs.
func startGateway(t *testing.T, cfg gateway.Config, logs io.Writer) string {
	t.Helper()
	resolved, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(resolved, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, g)
	return g.URL()
}

// freePort is a loopback port nothing listens on (for server-everything, which takes PORT).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// everythingHTTP runs server-everything in streamableHttp mode on a free loopback port
// (loopback.mjs pins the host) until the test ends, and returns its MCP URL.
func everythingHTTP(t *testing.T, nodePath, everything string) string {
	t.Helper()
	port := freePort(t)
	var out syncBuffer
	cmd := exec.Command(nodePath, "--import", "./loopback.mjs", everything, "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT="+port)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			return "http://127.0.0.1:" + port + "/mcp"
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("server-everything exited (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server-everything never listened on %s:\n%s", port, out.String())
		}
	}
}

// transcript runs client.mjs with target arguments and returns its transcript, decoded.
func transcript(nodePath, out string, target ...string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	var stderr syncBuffer
	cmd := exec.CommandContext(ctx, nodePath, append([]string{"client.mjs", "--out", out}, target...)...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("client.mjs %s: %v\n%s", strings.Join(target, " "), err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return decode(b)
}

// compareRuns runs the client directly and through the gateway at the same time (they are
// independent sessions), and fails listing every difference that survives normalisation.
func compareRuns(t *testing.T, nodePath string, direct, through []string, gatewayLogs *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	var wg sync.WaitGroup
	var d, g any
	var dErr, gErr error
	wg.Go(func() { d, dErr = transcript(nodePath, filepath.Join(dir, "direct.json"), direct...) })
	wg.Go(func() { g, gErr = transcript(nodePath, filepath.Join(dir, "gateway.json"), through...) })
	wg.Wait()
	if dErr != nil {
		t.Fatalf("directly: %v", dErr)
	}
	if gErr != nil {
		t.Fatalf("through the gateway: %v\ngateway log:\n%s", gErr, gatewayLogs.String())
	}
	if problems := directProblems(d); len(problems) > 0 {
		t.Fatalf("the run straight to server-everything did not work, so comparing would prove nothing:\n%s",
			strings.Join(problems, "\n"))
	}
	diffs := differences(normalise(d), normalise(g))
	if len(diffs) > 0 {
		keep := os.Getenv("MCPDIFF_KEEP")
		if keep != "" {
			for _, f := range []string{"direct.json", "gateway.json"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					os.WriteFile(filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_")+"-"+f), b, 0o644)
				}
			}
		}
		t.Errorf("%d differences between the transcript straight to server-everything and through the gateway "+
			"(MCPDIFF_KEEP=DIR keeps both transcripts):\n%s", len(diffs), strings.Join(diffs, "\n"))
	}
}

// minOps is fewer ops than client.mjs runs; a transcript with fewer ended early.
const minOps = 100

// directProblems: the reference run must have worked, every request answered by the server,
// or two equally broken runs would compare equal.
func directProblems(transcript any) []string {
	top, _ := transcript.(map[string]any)
	ops := asSlice(top["ops"])
	var out []string
	if len(ops) < minOps {
		out = append(out, fmt.Sprintf("only %d ops (client.mjs runs more than %d)", len(ops), minOps))
	}
	for i, op := range ops {
		o, _ := op.(map[string]any)
		if e, ok := o["clientError"]; ok {
			out = append(out, fmt.Sprintf("ops[%d %v]: %v", i, o["name"], e))
		}
	}
	return out
}

func TestTypeScriptEverythingDirectAndThroughTheGatewayAreEqual(t *testing.T) {
	nodePath, everything := node(t)
	base := services(t)

	t.Run("stdio", func(t *testing.T) {
		cfg := base
		cfg.UpstreamsStdio = []string{"everything=" + nodePath + " " + everything + " stdio"}
		var logs syncBuffer
		url := startGateway(t, cfg, &logs)
		compareRuns(t, nodePath,
			[]string{"--stdio", "--", nodePath, everything, "stdio"},
			[]string{"--url", url}, &logs)
	})

	// Two server processes: server-everything keeps some state per process, not per session
	// (session resources are registered by URI), so concurrent runs on one would meet.
	t.Run("streamableHttp", func(t *testing.T) {
		direct, upstream := everythingHTTP(t, nodePath, everything), everythingHTTP(t, nodePath, everything)
		cfg := base
		cfg.Upstreams = []string{"everything=" + upstream}
		var logs syncBuffer
		url := startGateway(t, cfg, &logs)
		compareRuns(t, nodePath, []string{"--url", direct}, []string{"--url", url}, &logs)
	})
}
