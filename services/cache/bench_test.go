package cache_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/platform/loadtest"
	"github.com/osirisplane/osiris/services/cache/internal/badgerstore"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
)

var (
	benchFor     = flag.Duration("bench.duration", 2*time.Second, "how long each round of a ratio benchmark drives one operation")
	benchRounds  = flag.Int("bench.rounds", 3, "rounds per operation; the median round is reported")
	benchClients = flag.Int("bench.clients", 64, "concurrent clients")
	benchValue   = flag.Int("bench.value", 1024, "value size in bytes")
)

const benchKeys = 4096

// BenchmarkGetPutVsNoop drives, on one cache server in one run, a no-op unary RPC (the gRPC
// health check), Get of present entries (hits) and synced Put, with the same number of
// concurrent clients, alternating rounds, and reports the rates, their ratios to the no-op
// and the latencies.
func BenchmarkGetPutVsNoop(b *testing.B) {
	r := start(b, testConfig(b.TempDir()))
	health := healthpb.NewHealthClient(r.conn)
	value := make([]byte, *benchValue)
	keys := benchKeyNames()
	for _, k := range keys {
		put(b, r.client, "bench", k, string(value), 0, "connection:@bench")
	}
	noop := func(ctx context.Context, _, _ int) error {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	getOp := func(ctx context.Context, w, i int) error {
		_, err := r.client.Get(ctx, &cachev1.GetRequest{Namespace: "bench", Key: keys[(w*7919+i)%benchKeys]})
		return err
	}
	putOp := func(ctx context.Context, w, i int) error {
		_, err := r.client.Put(ctx, &cachev1.PutRequest{Namespace: "bench", Key: keys[(w*7919+i)%benchKeys], Value: value, Tags: []string{"connection:@bench"}})
		return err
	}
	var noops, gets, puts []loadtest.Result
	for range *benchRounds {
		noops = append(noops, loadtest.Run(context.Background(), *benchClients, *benchFor, noop))
		gets = append(gets, loadtest.Run(context.Background(), *benchClients, *benchFor, getOp))
		puts = append(puts, loadtest.Run(context.Background(), *benchClients, *benchFor, putOp))
	}
	n, g, p := loadtest.Median(noops), loadtest.Median(gets), loadtest.Median(puts)
	if n.Errors+g.Errors+p.Errors > 0 {
		b.Fatalf("errors: noop %d (%v), get %d (%v), put %d (%v)", n.Errors, n.FirstErr, g.Errors, g.FirstErr, p.Errors, p.FirstErr)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(n.PerSecond(), "noop/s")
	b.ReportMetric(g.PerSecond(), "get/s")
	b.ReportMetric(p.PerSecond(), "put/s")
	b.ReportMetric(g.PerSecond()/n.PerSecond(), "get/noop")
	b.ReportMetric(p.PerSecond()/n.PerSecond(), "put/noop")
	b.ReportMetric(1e6/g.PerSecond(), "get-machine-us") // compare with BenchmarkGetInProcess
	b.ReportMetric(ms(n.P50), "noop-p50-ms")
	b.ReportMetric(ms(g.P50), "get-p50-ms")
	b.ReportMetric(ms(g.P99), "get-p99-ms")
	b.ReportMetric(ms(p.P50), "put-p50-ms")
	b.ReportMetric(ms(p.P99), "put-p99-ms")
	b.ReportMetric(0, "ns/op") // the rates above are the result; ns/op of one call to this function is not
}

// BenchmarkGetInProcess is the hit path without gRPC (validation, clock, Badger snapshot read
// of metadata and value, recency touch). An in-memory front could save at most this per Get,
// less a map lookup: compare its get-machine-us with BenchmarkGetPutVsNoop's.
func BenchmarkGetInProcess(b *testing.B) {
	db, err := badgerdb.Open(b.TempDir(), badgerdb.Options{}, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	c, err := entrycache.Open(badgerstore.New(db), entrycache.Config{})
	if err != nil {
		db.Close()
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	value := make([]byte, *benchValue)
	keys := benchKeyNames()
	for _, k := range keys {
		if _, err := c.Put(context.Background(), entrycache.ID{Namespace: "bench", Key: k}, value, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	get := func(ctx context.Context, w, i int) error {
		_, err := c.Get(ctx, entrycache.ID{Namespace: "bench", Key: keys[(w*7919+i)%benchKeys]})
		return err
	}
	var rounds []loadtest.Result
	for range *benchRounds {
		rounds = append(rounds, loadtest.Run(context.Background(), *benchClients, *benchFor, get))
	}
	g := loadtest.Median(rounds)
	if g.Errors > 0 {
		b.Fatalf("%d errors: %v", g.Errors, g.FirstErr)
	}
	b.ReportMetric(g.PerSecond(), "get/s")
	b.ReportMetric(1e6/g.PerSecond(), "get-machine-us") // the whole machine's time per Get
	b.ReportMetric(0, "ns/op")
}

func benchKeyNames() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	return keys
}
