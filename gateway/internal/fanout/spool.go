package fanout

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// Run sends spooled records in batches until ctx ends, then sends what is left for up to
// drain.
func (t *Telemetry) Run(ctx context.Context, drain time.Duration) {
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() { t.send(ctx, true) })
	}
	wg.Wait()
	flush, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	for range senders {
		wg.Go(func() { t.send(flush, false) })
	}
	wg.Wait()
	if n := t.Pending(); n > 0 {
		t.log.Warn("telemetry records not sent at shutdown", "records", n)
	}
}

// send delivers batches until ctx ends. Serving, it blocks for the first record of a batch
// and lingers for more; draining, it takes only what is queued and returns once the spool is
// empty.
func (t *Telemetry) send(ctx context.Context, serving bool) {
	batch := make([]*telemetryv1.ToolCall, 0, maxBatch)
	for ctx.Err() == nil {
		var first *telemetryv1.ToolCall
		if serving {
			select {
			case first = <-t.spool:
			case <-ctx.Done():
				return
			}
		} else {
			select {
			case first = <-t.spool:
			default:
				return
			}
		}
		batch = t.collect(ctx, first, batch[:0], serving)
		t.deliver(ctx, batch)
		clear(batch) // the records are recorded, dropped or back in the spool
	}
}

// collect returns batch with first and the records queued after it, until the batch holds
// maxBatch records or maxBatchBytes, or the spool is empty (after waiting up to linger, if
// lingering), or ctx ends. A record over maxRecordBytes is dropped.
func (t *Telemetry) collect(ctx context.Context, first *telemetryv1.ToolCall, batch []*telemetryv1.ToolCall, lingering bool) []*telemetryv1.ToolCall {
	var timeout <-chan time.Time
	if lingering {
		timer := time.NewTimer(linger)
		defer timer.Stop()
		timeout = timer.C
	}
	size := 0
	for c := first; ; {
		if n := proto.Size(c); n > maxRecordBytes {
			t.log.Warn("tool call record too large for the telemetry service; dropped", "tool", c.GetTool(), "bytes", n)
			t.drop(1)
		} else {
			batch, size = append(batch, c), size+n
		}
		if len(batch) == maxBatch || size >= maxBatchBytes {
			return batch
		}
		select {
		case c = <-t.spool:
			continue
		default:
		}
		if timeout == nil {
			return batch
		}
		select {
		case c = <-t.spool:
		case <-timeout:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
}

// deliver sends batch in one RecordToolCalls, retrying with backoff while the service is down
// or refusing, until ctx ends; then the records go back to the spool. Resending after an
// ambiguous failure (the service committed, the reply was lost) is safe: the service skips
// calls whose correlation id it has recorded. A batch refused as invalid recorded nothing; it
// is split to find the invalid records, which are dropped.
func (t *Telemetry) deliver(ctx context.Context, batch []*telemetryv1.ToolCall) {
	if len(batch) == 0 {
		return
	}
	for backoff := minBackoff; ; backoff = min(2*backoff, maxBackoff) {
		_, err := t.client.RecordToolCalls(ctx, &telemetryv1.RecordToolCallsRequest{Calls: batch})
		switch {
		case err == nil:
			t.pending.Add(-int64(len(batch)))
			return
		case status.Code(err) == codes.InvalidArgument:
			t.refused(ctx, batch, err)
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			t.requeue(batch)
			return
		}
	}
}

// refused sends the halves of a batch the service refused as invalid on their own, until
// each invalid record is alone; that one is dropped, since it would be refused forever.
func (t *Telemetry) refused(ctx context.Context, batch []*telemetryv1.ToolCall, err error) {
	if len(batch) == 1 {
		t.log.Warn("telemetry service refused a tool call record; dropped", "tool", batch[0].GetTool(),
			"correlation_id", batch[0].GetCorrelationId(), "err", err)
		t.drop(1)
		return
	}
	half := len(batch) / 2
	t.deliver(ctx, batch[:half])
	t.deliver(ctx, batch[half:])
}

// requeue puts records that could not be delivered back in the spool; what does not fit is
// dropped and counted.
func (t *Telemetry) requeue(batch []*telemetryv1.ToolCall) {
	for _, c := range batch {
		select {
		case t.spool <- c:
		default:
			t.drop(1)
		}
	}
}
