package fanout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
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

	mu           sync.Mutex
	waiting      []*pendingEvent
	waitingBytes int
	inFlight     int
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
	// MaxQueuedEvents and MaxQueuedBytes bound the events waiting for a request. Past either,
	// an event is refused at once (the call fails closed, or is a counted gap when failing
	// open) rather than queue behind a service that cannot keep up.
	MaxQueuedEvents = 10_000
	MaxQueuedBytes  = 64 << 20
	// A batch the service refuses as overloaded (RESOURCE_EXHAUSTED) is sent again after
	// minRetryBackoff, doubling up to maxRetryBackoff, each wait jittered down to half, for as
	// long as one of its callers still waits and at most maxRetryWait in all.
	minRetryBackoff = 10 * time.Millisecond
	maxRetryBackoff = time.Second
	maxRetryWait    = appendTimeout
)

// errQueueFull refuses an event while the queue is at its bound.
var errQueueFull = fmt.Errorf("the gateway's audit queue is full (%d events or %d MiB wait for the audit service)", MaxQueuedEvents, MaxQueuedBytes>>20)

type pendingEvent struct {
	event *auditv1.Event
	size  int
	call  trace.Link      // the calling span, if any
	gone  <-chan struct{} // closed when the caller stops waiting
	done  chan appended   // buffered: the sender never blocks on a caller that has gone
}

// appended is how one event's append ended: its own receipt from the batch's reply, or why
// it failed.
type appended struct {
	receipt *auditv1.AppendResponse
	err     error
}

// append waits until e is durable in the audit log, or ctx ends, and returns e's receipt
// (its seq and leaf hash). When ctx ends first, e may still be recorded, as with any request
// whose reply is lost.
func (a *appender) append(ctx context.Context, e *auditv1.Event) (*auditv1.AppendResponse, error) {
	p := &pendingEvent{event: e, size: proto.Size(e), call: trace.LinkFromContext(ctx), gone: ctx.Done(), done: make(chan appended, 1)}
	a.mu.Lock()
	if len(a.waiting) >= MaxQueuedEvents || (len(a.waiting) > 0 && a.waitingBytes+p.size > MaxQueuedBytes) {
		a.mu.Unlock()
		return nil, errQueueFull
	}
	a.waiting = append(a.waiting, p)
	a.waitingBytes += p.size
	send := a.inFlight < maxInFlight
	if send {
		a.inFlight++
	}
	a.mu.Unlock()
	if send {
		go a.send() // not inline: the caller must be free to stop waiting at its deadline
	}
	select {
	case r := <-p.done:
		return r.receipt, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
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
	a.waitingBytes -= size
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

// deliver appends batch and hands each caller its own receipt: the service answers one per
// event, in the order of the request. The service refuses a whole batch for one bad
// event (an agent's oversized arguments, say) and names its index; that event fails alone and
// the others are sent again, so it never fails another agent's call. A batch refused because
// the service is overloaded is sent again with backoff while any of its callers still waits:
// an overloaded service sees a few requests a second from this gateway, not more.
func (a *appender) deliver(batch []*pendingEvent) {
	began := time.Now()
	backoff := minRetryBackoff
	for {
		batch = slices.DeleteFunc(batch, stoppedWaiting)
		if len(batch) == 0 {
			return
		}
		receipts, err := a.request(batch)
		if err == nil {
			for i, p := range batch {
				p.done <- appended{receipt: receipts[i]}
			}
			return
		}
		if i, ok := refusedEvent(err, len(batch)); ok {
			batch[i].done <- appended{err: err}
			batch = slices.Delete(batch, i, i+1)
			continue
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jittered, so gateways do not retry in step
		if status.Code(err) != codes.ResourceExhausted || time.Since(began)+wait > maxRetryWait {
			for _, p := range batch {
				p.done <- appended{err: err}
			}
			return
		}
		time.Sleep(wait)
		backoff = min(2*backoff, maxRetryBackoff)
	}
}

// request sends batch as one AppendBatch and returns its receipts, one per event in order.
func (a *appender) request(batch []*pendingEvent) ([]*auditv1.AppendResponse, error) {
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
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, appendTimeout)
	defer cancel()
	resp, err := a.client.AppendBatch(ctx, &auditv1.AppendBatchRequest{Events: events})
	if err != nil {
		return nil, err
	}
	if len(resp.GetReceipts()) != len(events) {
		return nil, fmt.Errorf("audit service answered %d receipts for %d events", len(resp.GetReceipts()), len(events))
	}
	return resp.GetReceipts(), nil
}

func stoppedWaiting(p *pendingEvent) bool {
	select {
	case <-p.gone:
		return true
	default:
		return false
	}
}

// refusedEvent returns the index of the event the service refused a batch of n for, from the
// BadRequest field violation it names ("events[3]" or "events[3].tool").
func refusedEvent(err error, n int) (int, bool) {
	for _, v := range apierr.FieldViolations(err) {
		rest, ok := strings.CutPrefix(v.GetField(), "events[")
		if !ok {
			continue
		}
		idx, _, ok := strings.Cut(rest, "]")
		if i, err := strconv.Atoi(idx); ok && err == nil && i >= 0 && i < n {
			return i, true
		}
	}
	return 0, false
}
