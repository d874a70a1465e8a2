package fanout

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// Spool sizes and batching. Recording must never slow a call down or fail it, and the
// telemetry service may be down for a while: records wait in a bounded spool, and what does
// not fit is dropped and counted (osiris.gateway.telemetry_dropped). Senders take records from
// the spool in batches, one RecordToolCalls each, so one synced commit in the service covers
// many records; telemetry may lag the call, so a batch may wait a moment to fill.
const (
	DefaultSpool = 100_000
	// senders overlap batches: while one waits for its synced commit, the next one fills.
	senders = 2
	// maxBatch bounds the records of one RecordToolCalls (the service takes up to 1000).
	maxBatch = 500
	// maxBatchBytes ends a batch once its records' encoded size reaches it; with one record of
	// at most maxRecordBytes more, a request stays well below the service's 1 MiB limit.
	maxBatchBytes = 512 << 10
	// maxRecordBytes bounds one encoded record. The service's limits on a record's fields add
	// up to about 17 KiB, so a larger record would be refused anyway; it is dropped and counted.
	maxRecordBytes = 64 << 10
	// maxErrorBytes is the service's limit on a record's error text; longer text is cut so
	// that the record stays valid and the call is counted.
	maxErrorBytes = 16 << 10
	// linger is how long a sender holding fewer than maxBatch records waits for more.
	linger = 50 * time.Millisecond
	// Retries while the service is down or refusing back off from minBackoff to maxBackoff.
	minBackoff = 10 * time.Millisecond
	maxBackoff = time.Second
)

// Telemetry records every tool call in the telemetry service, from a spool.
type Telemetry struct {
	client telemetryv1.TelemetryServiceClient
	spool  chan *telemetryv1.ToolCall
	// pending counts records from before they enter the spool until they are recorded or
	// dropped, so a record a sender holds is never missing from Pending.
	pending atomic.Int64
	dropped metric.Int64Counter
	log     *slog.Logger
}

// NewTelemetry builds the telemetry fan-out with a spool of the given capacity.
func NewTelemetry(client telemetryv1.TelemetryServiceClient, capacity int, meter metric.Meter, log *slog.Logger) (*Telemetry, error) {
	t := &Telemetry{client: client, spool: make(chan *telemetryv1.ToolCall, capacity), log: log}
	var err error
	if t.dropped, err = meter.Int64Counter("osiris.gateway.telemetry_dropped",
		metric.WithDescription("tool call records dropped: the spool was full, or the telemetry service refused them as invalid")); err != nil {
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
func (t *Telemetry) Pending() int { return int(t.pending.Load()) }

// enqueue spools call, or drops and counts it when the spool is full.
func (t *Telemetry) enqueue(call *telemetryv1.ToolCall) {
	t.pending.Add(1)
	select {
	case t.spool <- call:
	default:
		t.drop(1)
	}
}

// drop forgets n records and counts them as dropped.
func (t *Telemetry) drop(n int) {
	t.pending.Add(-int64(n))
	t.dropped.Add(context.Background(), int64(n))
}

// Around records how each tools/call ended. It runs inside the audit fan-out, so the call
// has its correlation id already. A result with isError is an error, with its text.
func (t *Telemetry) Around(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
	if call.Method != "tools/call" {
		return forward(ctx)
	}
	began := time.Now()
	reply, err := forward(ctx)
	rec := &telemetryv1.ToolCall{SessionId: call.Session, CorrelationId: correlationID(ctx), Tool: call.Name(),
		Status: telemetryv1.CallStatus_CALL_STATUS_OK, DurationMs: float64(time.Since(began).Microseconds()) / 1000,
		BytesIn: uint64(len(call.Arguments())), Time: timestamppb.New(began)}
	switch {
	case err != nil:
		rec.Status, rec.Error = telemetryv1.CallStatus_CALL_STATUS_ERROR, clipText(err.Error(), maxErrorBytes)
	case failed(reply):
		rec.Status, rec.Error = telemetryv1.CallStatus_CALL_STATUS_ERROR, clipText(reply.ErrorText(), maxErrorBytes)
	}
	if reply != nil {
		rec.BytesOut = uint64(len(reply.Result))
	}
	t.enqueue(rec)
	return reply, err
}

// clipText makes s valid UTF-8 of at most max bytes, cut at a character boundary: the service
// refuses a record whose error text is not.
func clipText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// failed reports a tools/call result with isError true (false for nil). It reads the isError
// member alone, where wire.Reply.IsError decodes the whole result: audit, telemetry and the
// cache each ask about every result, and a result's content can be large.
func failed(r *wire.Reply) bool {
	if r == nil {
		return false
	}
	v, ok := wire.Member(r.Result, "isError")
	return ok && bytes.Equal(v, []byte("true"))
}
