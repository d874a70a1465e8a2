package session_test

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/loadtest"
)

var (
	benchFor      = flag.Duration("bench.duration", 2*time.Second, "how long each round of a ratio benchmark drives one operation")
	benchRounds   = flag.Int("bench.rounds", 3, "rounds per operation; the median round is reported")
	benchClients  = flag.Int("bench.clients", 64, "concurrent clients")
	benchSessions = flag.Int("bench.sessions", 100_000, "live sessions of the memory benchmark")
)

// agentState is a value like the one the original agent kept per session: discovery results,
// a pipeline draft and a validation status.
func agentState(i int) *structpb.Value {
	return value(map[string]any{
		"discovery":         map[string]any{"connection": "@mysql.main", "tables": []any{"orders", "customers", "items"}},
		"pipeline":          "oml_version: '0.1.0'\nname: orders-to-csv\nsteps: []",
		"validation_status": "pending",
		"turn":              i,
	})
}

// BenchmarkValuesVsNoop drives, on one session server in one run, a no-op unary RPC (the gRPC
// health check), a synced SetValue and a GetValue with the same number of concurrent
// clients (each on its own session), alternating rounds, and reports the rates and their
// ratios to the no-op.
func BenchmarkValuesVsNoop(b *testing.B) {
	r := start(b, testConfig(b.TempDir()))
	ctx := context.Background()
	health := healthpb.NewHealthClient(r.conn)
	values := make([]*structpb.Value, *benchClients)
	for w := range *benchClients {
		mustCreate(b, r.client, &sessionv1.CreateSessionRequest{Id: sid("bench", w)})
		values[w] = agentState(w)
		for k := range 16 {
			mustSet(b, r.client, sid("bench", w), fmt.Sprintf("k%d", k), values[w], 0)
		}
	}
	noop := func(ctx context.Context, _, _ int) error {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	set := func(ctx context.Context, w, i int) error {
		_, err := r.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: sid("bench", w), Key: fmt.Sprintf("k%d", i%16), Value: values[w]})
		return err
	}
	get := func(ctx context.Context, w, i int) error {
		_, err := r.client.GetValue(ctx, &sessionv1.GetValueRequest{SessionId: sid("bench", w), Key: fmt.Sprintf("k%d", i%16)})
		return err
	}
	var noops, sets, gets []loadtest.Result
	for range *benchRounds {
		noops = append(noops, loadtest.Run(ctx, *benchClients, *benchFor, noop))
		sets = append(sets, loadtest.Run(ctx, *benchClients, *benchFor, set))
		gets = append(gets, loadtest.Run(ctx, *benchClients, *benchFor, get))
	}
	n, s, g := loadtest.Median(noops), loadtest.Median(sets), loadtest.Median(gets)
	if n.Errors+s.Errors+g.Errors > 0 {
		b.Fatalf("errors: noop %d (%v), set %d (%v), get %d (%v)", n.Errors, n.FirstErr, s.Errors, s.FirstErr, g.Errors, g.FirstErr)
	}
	b.ReportMetric(n.PerSecond(), "noop/s")
	b.ReportMetric(s.PerSecond(), "set/s")
	b.ReportMetric(g.PerSecond(), "get/s")
	b.ReportMetric(s.PerSecond()/n.PerSecond(), "set/noop")
	b.ReportMetric(g.PerSecond()/n.PerSecond(), "get/noop")
	b.ReportMetric(float64(s.P50.Microseconds())/1000, "set-p50-ms")
	b.ReportMetric(float64(s.P99.Microseconds())/1000, "set-p99-ms")
	b.ReportMetric(float64(g.P50.Microseconds())/1000, "get-p50-ms")
	b.ReportMetric(0, "ns/op") // the rates above are the result
}

// BenchmarkMemoryPerSession creates -bench.sessions live sessions (each with two labels and
// one agent-state value) from 64 clients and reports the heap growth (after GC, once Badger
// has settled) and the store's size on disk, per session. The heap includes Badger's
// memtables, which hold the newest writes; nothing else in the service is per session.
func BenchmarkMemoryPerSession(b *testing.B) {
	dir := b.TempDir()
	cfg := testConfig(dir)
	cfg.MaxSessions = max(cfg.MaxSessions, *benchSessions)
	r := start(b, cfg)
	ctx := context.Background()
	state := agentState(0)
	before := settledHeap(0, 0, 5)
	began := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *benchClients {
		wg.Go(func() {
			for n := int(next.Add(1)) - 1; n < *benchSessions; n = int(next.Add(1)) - 1 {
				id := sid("mem", n)
				_, err := r.client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: id, Labels: map[string]string{"user": "ann", "client": "claude-desktop"}})
				if err == nil {
					_, err = r.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: id, Key: "session:" + id, Value: state})
				}
				if err != nil {
					b.Errorf("session %d: %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if b.Failed() {
		b.FailNow()
	}
	after := settledHeap(before, 0, 20)
	var disk int64 // allocated blocks: Badger preallocates sparse log files
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					disk += st.Blocks * 512
				}
			}
		}
		return nil
	})
	per := float64(*benchSessions)
	b.ReportMetric(float64(int64(after)-int64(before))/per, "heap-B/session")
	b.ReportMetric(float64(disk)/per, "disk-B/session")
	b.ReportMetric(per/elapsed.Seconds(), "sessions/s")
	b.ReportMetric(0, "ns/op")
}
