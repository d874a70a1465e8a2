package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// childEnv makes the test binary run as an upstream server over stdio (child_test.go).
const childEnv = "OSIRIS_UPSTREAM_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// child is a command that runs this test binary as an upstream server in mode.
func child(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	return cmd
}

// tagKey marks a context, so a test can tell which context the Handler was given.
type tagKey struct{}

func tagged(ctx context.Context, tag any) context.Context {
	return context.WithValue(ctx, tagKey{}, tag)
}

// got is one thing the Handler received.
type got struct {
	tag    any
	method string
	params json.RawMessage
}

// recorder is a Handler that records what it receives; answer answers requests.
type recorder struct {
	answer func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)

	mu       sync.Mutex
	notes    []got
	requests []got
	signal   chan struct{} // receives after each record, without blocking
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) handler() Handler {
	return Handler{
		Request: func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
			r.record(&r.requests, got{ctx.Value(tagKey{}), method, params})
			if r.answer == nil {
				return json.RawMessage(`{}`), nil
			}
			return r.answer(ctx, method, params)
		},
		Notify: func(ctx context.Context, method string, params json.RawMessage) {
			r.record(&r.notes, got{ctx.Value(tagKey{}), method, params})
		},
	}
}

func (r *recorder) record(to *[]got, g got) {
	r.mu.Lock()
	*to = append(*to, g)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) notifications() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

func (r *recorder) serverRequests() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// waitFor waits until cond holds for what was recorded, or fails the test at its deadline.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, what, r.signal, cond, func() string {
		return fmt.Sprintf("notifications %v, requests %v", r.notifications(), r.serverRequests())
	})
}

// waitUntil waits until cond holds, checking it after each signal, or fails the test after
// a deadline long enough that only a hang reaches it.
func waitUntil(t *testing.T, what string, signal <-chan struct{}, cond func() bool, state func() string) {
	t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for !cond() {
		select {
		case <-signal:
		case <-time.After(50 * time.Millisecond):
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s; %s", what, state())
		}
	}
}

// logBuffer is a slog handler's output, safe for the child's stderr goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) records(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(b.buf.Bytes()) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// initParams are an agent's initialize params declaring sampling and roots.
const initParams = `{"protocolVersion":"2025-11-25","capabilities":{"sampling":{},"roots":{}},"clientInfo":{"name":"upstream-test","version":"1"}}`

func connect(t *testing.T, ctx context.Context, cfg Config) *Session {
	t.Helper()
	s, err := Connect(ctx, cfg, json.RawMessage(initParams))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
