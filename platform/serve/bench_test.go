package serve

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/osirisplane/osiris/platform/loadtest"
)

// deepService has one method whose handler uses about 8 KiB of stack, as a real handler does
// below otelgrpc and the interceptors (validation, redaction, the writer's select).
func deepService() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{ServiceName: "test.Deep", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := &emptypb.Empty{}
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { deep(8); return &emptypb.Empty{}, nil }
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.Deep/Call"}, h)
		},
	}}}
}

//go:noinline
func deep(n int) byte {
	var buf [1024]byte
	buf[n] = byte(n)
	if n == 0 {
		return buf[0]
	}
	return deep(n-1) + buf[n]
}

// BenchmarkStreamWorkers drives a unary RPC from 64 clients on two servers in one run, one
// with DefaultStreamWorkers and one with a goroutine per RPC (gRPC's default), alternating
// rounds, and reports both rates and their ratio (workers/none > 1: workers are cheaper).
func BenchmarkStreamWorkers(b *testing.B) {
	call := func(workers int) loadtest.Op {
		s, err := New(Config{Service: "bench", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", OpenAPI: []byte(`{}`),
			StreamWorkers: workers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		s.GRPC().RegisterService(deepService(), struct{}{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- s.Serve(ctx, func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error { return nil })
		}()
		conn, err := grpc.NewClient(dialTarget(s.GRPCAddr()), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(); cancel(); <-done; s.Close(context.Background()) })
		return func(ctx context.Context, _, _ int) error {
			return conn.Invoke(ctx, "/test.Deep/Call", &emptypb.Empty{}, &emptypb.Empty{})
		}
	}
	withWorkers, without := call(0), call(-1)
	var ws, ns []loadtest.Result
	for range 3 {
		ns = append(ns, loadtest.Run(context.Background(), 64, time.Second, without))
		ws = append(ws, loadtest.Run(context.Background(), 64, time.Second, withWorkers))
	}
	w, n := loadtest.Median(ws), loadtest.Median(ns)
	if w.Errors+n.Errors > 0 {
		b.Fatalf("errors: workers %d (%v), none %d (%v)", w.Errors, w.FirstErr, n.Errors, n.FirstErr)
	}
	b.ReportMetric(w.PerSecond(), "workers/s")
	b.ReportMetric(n.PerSecond(), "none/s")
	b.ReportMetric(w.PerSecond()/n.PerSecond(), "workers/none")
	b.ReportMetric(0, "ns/op")
}
