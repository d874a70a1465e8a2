package cache_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/services/cache"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	goleak.VerifyTestMain(m)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testClock is a host's two clocks, which the test drives: Add lets time pass (both
// advance), Set steps the wall clock alone, as an operator or NTP would.
type testClock struct {
	mu   sync.Mutex
	t    time.Time
	mono time.Duration
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Elapsed() time.Duration  { c.mu.Lock(); defer c.mu.Unlock(); return c.mono }
func (c *testClock) Set(t time.Time)         { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *testClock) drive(cfg *cache.Config) { cfg.Now, cfg.Elapsed = c.Now, c.Elapsed }
func (c *testClock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.mono = c.t.Add(d), c.mono+d
	return c.t
}

func testConfig(dir string) cache.Config {
	cfg := cache.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

// running is a cache service on free loopback ports, with a client.
type running struct {
	svc    *cache.Service
	client cachev1.CacheServiceClient
	conn   *grpc.ClientConn
	done   chan error
	cancel context.CancelFunc
}

func start(t testing.TB, cfg cache.Config) *running {
	t.Helper()
	svc, err := cache.New(cfg, quietLog())
	if err != nil {
		t.Fatalf("start cache service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- svc.Run(ctx) }()
	r.conn, r.client = dial(t, svc.GRPCAddr())
	waitReady(t, "http://"+svc.HTTPAddr()+"/readyz")
	t.Cleanup(func() { r.stop(t) })
	return r
}

func dial(t testing.TB, addr string) (*grpc.ClientConn, cachev1.CacheServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	return conn, cachev1.NewCacheServiceClient(conn)
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

func httpClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

func put(t testing.TB, c cachev1.CacheServiceClient, ns, key, value string, ttl time.Duration, tags ...string) *cachev1.Entry {
	t.Helper()
	req := &cachev1.PutRequest{Namespace: ns, Key: key, Value: []byte(value), Tags: tags}
	if ttl != 0 {
		req.Ttl = durationpb.New(ttl)
	}
	e, err := c.Put(context.Background(), req)
	if err != nil {
		t.Fatalf("put %s/%s: %v", ns, key, err)
	}
	return e
}

// get returns the entry, or nil when it is NOT_FOUND.
func get(t testing.TB, c cachev1.CacheServiceClient, ns, key string) *cachev1.Entry {
	t.Helper()
	e, err := c.Get(context.Background(), &cachev1.GetRequest{Namespace: ns, Key: key})
	if status.Code(err) == codes.NotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s/%s: %v", ns, key, err)
	}
	return e
}

func stats(t testing.TB, c cachev1.CacheServiceClient) *cachev1.StatsResponse {
	t.Helper()
	s, err := c.Stats(context.Background(), &cachev1.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantStats compares the counters of s with want (entries, bytes, hits, misses, evictions,
// expirations).
func wantStats(t testing.TB, s *cachev1.StatsResponse, want [6]uint64) {
	t.Helper()
	got := [6]uint64{s.GetEntries(), s.GetBytes(), s.GetHits(), s.GetMisses(), s.GetEvictions(), s.GetExpirations()}
	if got != want {
		t.Fatalf("stats [entries bytes hits misses evictions expirations] = %v, want %v", got, want)
	}
}
