package session_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/session"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	goleak.VerifyTestMain(m)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a test clock: time moves only when the test says so.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// running is a session service on free loopback ports, with a client.
type running struct {
	svc    *session.Service
	client sessionv1.SessionServiceClient
	conn   *grpc.ClientConn
	done   chan error
	cancel context.CancelFunc
}

// testConfig uses free ports and a sweeper that only runs at start-up: tests sweep when they
// have moved their clock.
func testConfig(dir string) session.Config {
	cfg := session.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	cfg.SweepInterval = time.Hour
	return cfg
}

func start(t testing.TB, cfg session.Config) *running {
	t.Helper()
	svc, err := session.New(cfg, quietLog())
	if err != nil {
		t.Fatalf("start session service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- svc.Run(ctx) }()
	r.conn, err = grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.client = sessionv1.NewSessionServiceClient(r.conn)
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

func (r *running) sweep(t testing.TB) {
	t.Helper()
	if _, err := r.svc.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
}

func (r *running) keys(t testing.TB, prefix []byte) int {
	t.Helper()
	n, err := r.svc.CountKeys(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustCreate(t testing.TB, c sessionv1.SessionServiceClient, req *sessionv1.CreateSessionRequest) *sessionv1.Session {
	t.Helper()
	s, err := c.CreateSession(context.Background(), req)
	if err != nil {
		t.Fatalf("create session %q: %v", req.GetId(), err)
	}
	return s
}

func mustSet(t testing.TB, c sessionv1.SessionServiceClient, id, key string, v *structpb.Value, expected int64) int64 {
	t.Helper()
	resp, err := c.SetValue(context.Background(), &sessionv1.SetValueRequest{SessionId: id, Key: key, Value: v, ExpectedVersion: expected})
	if err != nil {
		t.Fatalf("set %s/%s: %v", id, key, err)
	}
	return resp.GetVersion()
}

func mustTransition(t testing.TB, c sessionv1.SessionServiceClient, id string, to sessionv1.ChatState) *sessionv1.Session {
	t.Helper()
	s, err := c.TransitionState(context.Background(), &sessionv1.TransitionStateRequest{Id: id, To: to})
	if err != nil {
		t.Fatalf("transition %s to %s: %v", id, to, err)
	}
	return s
}

func value(m map[string]any) *structpb.Value {
	v, err := structpb.NewValue(m)
	if err != nil {
		panic(err)
	}
	return v
}

func ttl(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// wantCode fails unless err has code and a message containing each of msgs.
func wantCode(t testing.TB, err error, code codes.Code, msgs ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("err = %v %q, want %v", st.Code(), st.Message(), code)
	}
	for _, m := range msgs {
		if !strings.Contains(st.Message(), m) {
			t.Fatalf("err message %q does not contain %q", st.Message(), m)
		}
	}
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := httpClient().Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s not ready in 10s", url)
}

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// metric returns the sum of the Prometheus samples of name (on the service's /metrics) whose
// labels contain every one of labels.
func metric(httpAddr, name string, labels ...string) (float64, error) {
	resp, err := httpClient().Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, errors.New("no sample of " + name)
	}
	return sum, sc.Err()
}

// waitMetric polls /metrics until name reaches at least want (events are delivered and
// sweeps counted asynchronously); it fails after 20 s.
func waitMetric(t testing.TB, httpAddr, name string, want float64, labels ...string) float64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got float64
	var err error
	for time.Now().Before(deadline) {
		if got, err = metric(httpAddr, name, labels...); err == nil && got >= want {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s%v = %v (err %v), want at least %v", name, labels, got, err, want)
	return 0
}

func sid(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
