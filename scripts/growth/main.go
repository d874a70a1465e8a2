// Command growth measures how each store grows per unit of work: it runs each service in
// process on a fresh data directory, writes -n units through gRPC (audit events, telemetry
// calls, sessions, cache entries), stops the service, and counts the Badger keys by prefix
// with their key and value bytes. docs/operations.md ("Growth per unit of work") quotes it.
//
//	go run ./scripts/growth -n 10000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/audit"
	"github.com/osirisplane/osiris/services/cache"
	"github.com/osirisplane/osiris/services/session"
	"github.com/osirisplane/osiris/services/telemetry"
)

type service interface {
	Run(ctx context.Context) error
	GRPCAddr() string
}

func main() {
	n := flag.Int("n", 10000, "units of work per store")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	root, err := os.MkdirTemp("", "osiris-growth-")
	must(err)
	defer os.RemoveAll(root)
	const loop = "127.0.0.1:0"

	measure("audit", "event", *n, filepath.Join(root, "audit"), func(dir string) (service, error) {
		c := audit.DefaultConfig()
		c.DataDir, c.GRPCAddr, c.HTTPAddr = dir, loop, loop
		return audit.New(c, log)
	}, func(ctx context.Context, conn *grpc.ClientConn, n int) error {
		client := auditv1.NewAuditServiceClient(conn)
		for i := 0; i < n; i += 500 {
			var batch []*auditv1.Event
			for j := i; j < min(n, i+500); j++ {
				args, _ := structpb.NewStruct(map[string]any{"connection": "prod-db", "limit": 100, "query": "select * from users", "password": "x"})
				batch = append(batch, &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED,
					SessionId: fmt.Sprintf("session-%d", j/100), CorrelationId: fmt.Sprintf("corr-%d", j), Tool: fmt.Sprintf("tool_%d", j%10),
					Arguments: args, BytesIn: 120, BytesOut: 2048, DurationMs: 12})
			}
			if _, err := client.AppendBatch(ctx, &auditv1.AppendBatchRequest{Events: batch}); err != nil {
				return err
			}
		}
		return nil
	})

	measure("telemetry", "call", *n, filepath.Join(root, "telemetry"), func(dir string) (service, error) {
		c := telemetry.DefaultConfig()
		c.DataDir, c.GRPCAddr, c.HTTPAddr = dir, loop, loop
		return telemetry.New(c, log)
	}, func(ctx context.Context, conn *grpc.ClientConn, n int) error {
		client := telemetryv1.NewTelemetryServiceClient(conn)
		now := time.Now()
		for i := 0; i < n; i += 1000 {
			var batch []*telemetryv1.ToolCall
			for j := i; j < min(n, i+1000); j++ {
				// 100 calls per session, 10 tools, one call every 6 s (10 a minute).
				batch = append(batch, &telemetryv1.ToolCall{SessionId: fmt.Sprintf("session-%d", j/100), CorrelationId: fmt.Sprintf("corr-%d", j),
					Tool: fmt.Sprintf("tool_%d", j%10), Status: telemetryv1.CallStatus_CALL_STATUS_OK, DurationMs: 12, BytesIn: 120, BytesOut: 2048,
					Time: timestamppb.New(now.Add(-time.Duration(n-j) * 6 * time.Second))})
			}
			if _, err := client.RecordToolCalls(ctx, &telemetryv1.RecordToolCallsRequest{Calls: batch}); err != nil {
				return err
			}
		}
		return nil
	})

	measure("session", "session", *n, filepath.Join(root, "session"), func(dir string) (service, error) {
		c := session.DefaultConfig()
		c.DataDir, c.GRPCAddr, c.HTTPAddr = dir, loop, loop
		return session.New(c, log)
	}, func(ctx context.Context, conn *grpc.ClientConn, n int) error {
		client := sessionv1.NewSessionServiceClient(conn)
		for i := range n {
			if _, err := client.CreateSession(ctx, &sessionv1.CreateSessionRequest{Id: fmt.Sprintf("session-%d", i),
				Labels: map[string]string{"agent": "claude", "user": "alice"}}); err != nil {
				return err
			}
		}
		return nil
	})

	measure("cache", "entry (100-byte value)", *n, filepath.Join(root, "cache"), func(dir string) (service, error) {
		c := cache.DefaultConfig()
		c.DataDir, c.GRPCAddr, c.HTTPAddr = dir, loop, loop
		return cache.New(c, log)
	}, func(ctx context.Context, conn *grpc.ClientConn, n int) error {
		client := cachev1.NewCacheServiceClient(conn)
		value := make([]byte, 100)
		for i := range n {
			if _, err := client.Put(ctx, &cachev1.PutRequest{Namespace: "discovery", Key: fmt.Sprintf("conn/%d", i), Value: value,
				Ttl: durationpb.New(time.Hour), Tags: []string{"conn"}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// measure runs one service on dir, writes n units with write, stops it and reports its keys.
func measure(name, unit string, n int, dir string, open func(string) (service, error), write func(context.Context, *grpc.ClientConn, int) error) {
	svc, err := open(dir)
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	must(err)
	must(write(context.Background(), conn, n))
	conn.Close()
	cancel()
	must(<-done)

	db, err := badgerdb.Open(dir, badgerdb.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(err)
	defer db.Close()
	type tally struct{ keys, bytes int64 }
	byPrefix := map[string]*tally{}
	var total tally
	must(db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			p := fmt.Sprintf("%q", k[:min(2, len(k))])
			if byPrefix[p] == nil {
				byPrefix[p] = &tally{}
			}
			size := int64(len(k)) + item.ValueSize()
			byPrefix[p].keys++
			byPrefix[p].bytes += size
			total.keys++
			total.bytes += size
		}
		return nil
	}))
	fmt.Printf("%s: %d × %s: %d keys, %d key+value bytes (%.1f keys, %.0f bytes per %s); on disk %d bytes\n",
		name, n, unit, total.keys, total.bytes, float64(total.keys)/float64(n), float64(total.bytes)/float64(n), unit, diskBytes(dir))
	prefixes := make([]string, 0, len(byPrefix))
	for p := range byPrefix {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		t := byPrefix[p]
		fmt.Printf("  prefix %-10s %8d keys %10d bytes\n", p, t.keys, t.bytes)
	}
}

// diskBytes is the space allocated to the files of dir (sparse files count what they use).
func diskBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if info, err := d.Info(); err == nil {
			total += allocated(info)
		}
		return nil
	})
	return total
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "growth:", err)
		os.Exit(1)
	}
}

func allocated(info os.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
