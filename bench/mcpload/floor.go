package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// measureFloor measures the design's floor on a tool call's latency: the gateway records a
// call as started before forwarding it and as ended before answering, each synced to disk,
// so no call can answer sooner than two Appends in sequence. One op is those two Appends,
// with events shaped as the gateway's for a call without arguments.
func measureFloor(ctx context.Context, c config) ([]measured, error) {
	conn, err := grpc.NewClient(c.auditAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("--audit-floor %s: %w", c.auditAddr, err)
	}
	defer conn.Close()
	client := auditv1.NewAuditServiceClient(conn)
	session := "mcpload_" + rand.Text()
	op := func(ctx context.Context, w, i int) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		corr := fmt.Sprintf("mcpload_%d_%d", w, i)
		start := &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, SessionId: session,
			CorrelationId: corr, Tool: c.tool, BytesIn: 2}
		if _, err := client.Append(ctx, &auditv1.AppendRequest{Event: start}); err != nil {
			return err
		}
		end := &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, SessionId: session,
			CorrelationId: corr, Tool: c.tool, DurationMs: 0.4, BytesOut: 60}
		_, err := client.Append(ctx, &auditv1.AppendRequest{Event: end})
		return err
	}
	var rs rounds
	for range c.rounds {
		rs.run(ctx, c.sessions, c.duration, op)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return []measured{rs.median("floor")}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
