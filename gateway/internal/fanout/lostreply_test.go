package fanout

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry"
)

// lossyClient performs every RecordToolCalls, but loses the reply of the first that the
// service acknowledged: the sender sees a failure although the batch was recorded.
type lossyClient struct {
	telemetryv1.TelemetryServiceClient
	lost  atomic.Bool
	calls atomic.Int64
}

func (c *lossyClient) RecordToolCalls(ctx context.Context, req *telemetryv1.RecordToolCallsRequest, opts ...grpc.CallOption) (*telemetryv1.RecordToolCallsResponse, error) {
	c.calls.Add(1)
	resp, err := c.TelemetryServiceClient.RecordToolCalls(ctx, req, opts...)
	if err == nil && c.lost.CompareAndSwap(false, true) {
		return nil, status.Error(codes.Unavailable, "connection reset before the reply")
	}
	return resp, err
}

// A batch whose reply is lost after the service committed it is sent again; the service
// skips its calls by correlation id, so the totals count every call exactly once.
func TestSpoolResendAfterLostReplyCountsOnce(t *testing.T) {
	const n = 1200
	cfg := telemetry.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	svc, err := telemetry.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("telemetry service: %v", err)
		}
	}()
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := &lossyClient{TelemetryServiceClient: telemetryv1.NewTelemetryServiceClient(conn)}

	spool, dropped := newSpool(t, client, n)
	for i := range n {
		spool.enqueue(record(i, ""))
	}
	stop := running(spool, time.Second)
	waitSent(t, spool)
	stop()
	if !client.lost.Load() {
		t.Fatal("no reply was lost: the test proved nothing")
	}
	sum, err := client.GetSummary(context.Background(), &telemetryv1.GetSummaryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetToolCalls() != n || dropped.n.Load() != 0 {
		t.Fatalf("telemetry counts %d calls (%d dropped) after %d RPCs, one reply lost; want %d", sum.GetToolCalls(), dropped.n.Load(), client.calls.Load(), n)
	}
}
