package fanout

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// appender sends audit events to the audit service in batches. Each event still waits until
// it is durable, but while maxInFlight requests are out, new events queue, and the next free
// request takes all of them (up to maxAppendBatch) as one AppendBatch. An idle gateway sends
// each event at once; a busy one shares one round trip among many calls. The service commits
// each batch as one unit, so the log looks the same either way.
//
// No goroutine outlives its work: a caller that finds a free slot starts a sender, which
// sends what waits and ends when nothing does.
type appender struct {
	client auditv1.AuditServiceClient
	// tracer starts one span per request, linked to the span of every call whose event it
	// carries: a request serves many calls, so it can be the child of none of them.
	tracer trace.Tracer

	mu       sync.Mutex
	waiting  []*pendingEvent
	inFlight int
}

const (
	// maxInFlight bounds concurrent AppendBatch requests: one can be waiting for its sync in
	// the service while the next fills.
	maxInFlight = 2
	// maxAppendBatch is the service's limit on events per AppendBatch.
	maxAppendBatch = 1000
	// maxAppendBatchBytes keeps a batch well inside the service's 4 MiB message limit; an
	// event bigger than that goes alone.
	maxAppendBatchBytes = 2 << 20
	// appendTimeout bounds one AppendBatch. It is not any one call's deadline, since the
	// request carries events of many calls; each caller still stops waiting at its own.
	appendTimeout = endEventTimeout
)

type pendingEvent struct {
	event *auditv1.Event
	size  int
	call  trace.Link // the calling span, if any
	done  chan error // buffered: the sender never blocks on a caller that has gone
}

// append waits until e is durable in the audit log, or ctx ends. When ctx ends first, e may
// still be recorded, as with any request whose reply is lost.
func (a *appender) append(ctx context.Context, e *auditv1.Event) error {
	p := &pendingEvent{event: e, size: proto.Size(e), call: trace.LinkFromContext(ctx), done: make(chan error, 1)}
	a.mu.Lock()
	a.waiting = append(a.waiting, p)
	send := a.inFlight < maxInFlight
	if send {
		a.inFlight++
	}
	a.mu.Unlock()
	if send {
		go a.send() // not inline: the caller must be free to stop waiting at its deadline
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send sends batches of what is waiting until nothing is.
func (a *appender) send() {
	for a.sendOne() {
	}
}

// sendOne sends one batch of what is waiting and reports whether more waits; if not, it gives
// up its slot.
func (a *appender) sendOne() bool {
	a.mu.Lock()
	n, size := 0, 0
	for n < min(len(a.waiting), maxAppendBatch) && (n == 0 || size+a.waiting[n].size <= maxAppendBatchBytes) {
		size += a.waiting[n].size
		n++
	}
	batch := slices.Clone(a.waiting[:n])
	rest := copy(a.waiting, a.waiting[n:])
	clear(a.waiting[rest:]) // the queue must not keep sent events alive
	a.waiting = a.waiting[:rest]
	a.mu.Unlock()

	if len(batch) > 0 {
		a.deliver(batch)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	more := len(a.waiting) > 0
	if !more {
		a.inFlight--
	}
	return more
}

// deliver appends batch and tells each caller. The service refuses a whole batch for one bad
// event (an agent's oversized arguments, say), and that must not fail the other agents'
// calls: a refused batch is split until the refused event is alone.
func (a *appender) deliver(batch []*pendingEvent) {
	events := make([]*auditv1.Event, len(batch))
	var links []trace.Link
	for i, p := range batch {
		events[i] = p.event
		if p.call.SpanContext.IsValid() {
			links = append(links, p.call)
		}
	}
	ctx, span := a.tracer.Start(context.Background(), "audit.AppendBatch", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("osiris.audit.events", len(events))))
	ctx, cancel := context.WithTimeout(ctx, appendTimeout)
	resp, err := a.client.AppendBatch(ctx, &auditv1.AppendBatchRequest{Events: events})
	cancel()
	span.End()
	if code := status.Code(err); len(batch) > 1 && (code == codes.InvalidArgument || code == codes.ResourceExhausted) {
		half := len(batch) / 2
		a.deliver(batch[:half])
		a.deliver(batch[half:])
		return
	}
	if err == nil && len(resp.GetReceipts()) != len(events) {
		err = fmt.Errorf("audit service answered %d receipts for %d events", len(resp.GetReceipts()), len(events))
	}
	for _, p := range batch {
		p.done <- err
	}
}
