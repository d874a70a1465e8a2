package fanout

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
)

// Spool sizes. Recording must never slow a call down or fail it, and the telemetry service
// may be down for a while: records wait in a bounded spool, and what does not fit is dropped
// and counted (osiris.gateway.telemetry_dropped).
const (
	DefaultSpool = 100_000
	senders      = 16 // each RecordToolCall waits for a synced commit; these overlap them
	maxBackoff   = time.Second
)

// Telemetry records every tool call in the telemetry service, from a spool.
type Telemetry struct {
	client  telemetryv1.TelemetryServiceClient
	spool   chan *telemetryv1.ToolCall
	sending atomic.Int64 // records taken from the spool and not yet recorded
	dropped metric.Int64Counter
	log     *slog.Logger
}

// NewTelemetry builds the telemetry fan-out with a spool of the given capacity.
func NewTelemetry(client telemetryv1.TelemetryServiceClient, capacity int, meter metric.Meter, log *slog.Logger) (*Telemetry, error) {
	t := &Telemetry{client: client, spool: make(chan *telemetryv1.ToolCall, capacity), log: log}
	var err error
	if t.dropped, err = meter.Int64Counter("osiris.gateway.telemetry_dropped", metric.WithDescription("tool call records dropped because the spool was full")); err != nil {
		return nil, err
	}
	_, err = meter.Int64ObservableGauge("osiris.gateway.telemetry_spooled", metric.WithDescription("tool call records waiting for the telemetry service"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(t.Pending()))
			return nil
		}))
	return t, err
}

// Pending is how many records are spooled or being sent.
func (t *Telemetry) Pending() int { return len(t.spool) + int(t.sending.Load()) }

// Run sends spooled records until ctx ends, then sends what is left for up to drain.
func (t *Telemetry) Run(ctx context.Context, drain time.Duration) {
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case call := <-t.spool:
					t.deliver(ctx, call)
				}
			}
		})
	}
	wg.Wait()
	flush, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	for range senders {
		wg.Go(func() {
			for flush.Err() == nil {
				select {
				case call := <-t.spool:
					t.deliver(flush, call)
				default:
					return
				}
			}
		})
	}
	wg.Wait()
	if n := t.Pending(); n > 0 {
		t.log.Warn("telemetry records not sent at shutdown", "records", n)
	}
}

// deliver records one call, retrying while the service is down or refusing, until ctx ends;
// then the call goes back to the spool (or, if that is full, is counted as dropped).
func (t *Telemetry) deliver(ctx context.Context, call *telemetryv1.ToolCall) {
	t.sending.Add(1)
	defer t.sending.Add(-1)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, maxBackoff) {
		if _, err := t.client.RecordToolCall(ctx, &telemetryv1.RecordToolCallRequest{Call: call}); err == nil {
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			select {
			case t.spool <- call:
			default:
				t.dropped.Add(context.Background(), 1)
			}
			return
		}
	}
}

// Around records how each tools/call ended. It runs inside the audit fan-out, so the call's
// correlation id is in its _meta already.
func (t *Telemetry) Around(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	p, ok := req.GetParams().(*mcp.CallToolParamsRaw)
	if !ok || p == nil {
		return forward(ctx)
	}
	began := time.Now()
	res, err := forward(ctx)
	call := &telemetryv1.ToolCall{SessionId: proxy.SessionID(ctx), Tool: p.Name, Status: telemetryv1.CallStatus_CALL_STATUS_OK,
		DurationMs: float64(time.Since(began).Microseconds()) / 1000, BytesIn: uint64(len(p.Arguments)), Time: timestamppb.New(began)}
	call.CorrelationId, _ = p.Meta[MetaKey].(string)
	result, _ := res.(*mcp.CallToolResult)
	switch {
	case err != nil:
		call.Status, call.Error = telemetryv1.CallStatus_CALL_STATUS_ERROR, err.Error()
	case result != nil && result.IsError:
		call.Status = telemetryv1.CallStatus_CALL_STATUS_ERROR
	}
	if result != nil {
		if b, merr := json.Marshal(result); merr == nil {
			call.BytesOut = uint64(len(b))
		}
	}
	select {
	case t.spool <- call:
	default:
		t.dropped.Add(ctx, 1)
	}
	return res, err
}
