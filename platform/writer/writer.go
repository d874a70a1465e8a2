// Package writer is the single-writer queue every service puts in front of its store.
//
// One goroutine owns all writes. Callers Submit an item and wait; the goroutine drains
// whatever is queued, hands the whole batch to the service's apply function (which commits it
// as one synced transaction), and then answers every waiter. That is group commit: the cost of
// a sync is shared by all the calls waiting on it, and because only one goroutine ever writes,
// read-modify-write sequences (hash chains, counters, compare-and-set) need no locks.
//
// Config.Sync, when set, runs after each batch is applied and before any of its callers hear
// (the store's commits are synced as they are made; Sync covers what a commit leaves out, such
// as a new file's name in its directory). If Sync ever fails, the queue stops for good: the
// state on disk is unknown, and the service must be restarted to recover from its log.
//
// Config.Admit, when set, is asked before each batch; an error refuses the whole batch (the
// free-space guard uses it to refuse writes on an almost full disk).
//
// The queue is bounded. When it is full Submit fails at once with an error wrapping
// apierr.ErrResourceExhausted instead of building an unbounded backlog. Close stops intake
// and applies everything already queued; if its context ends first, what is still queued is
// answered with ErrClosed. Either way Close returns only once the writer goroutine has exited,
// so the store can be closed after it without a write still running.
package writer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/osirisplane/osiris/platform/apierr"
)

// Default limits, used when Config leaves them zero.
const (
	DefaultDepth    = 4096
	DefaultMaxBatch = 1024
)

// ErrFull is returned by Submit when the queue holds Depth items already.
var ErrFull = fmt.Errorf("write queue is full, retry later: %w", apierr.ErrResourceExhausted)

// ErrClosed is returned by Submit after Close has begun.
var ErrClosed = fmt.Errorf("writer is shutting down: %w", apierr.ErrUnavailable)

// ErrBroken wraps the Sync error that stopped the queue; every later Submit returns it.
var ErrBroken = fmt.Errorf("store sync failed; restart the service: %w", apierr.ErrUnavailable)

// Result is the outcome of one item of a batch.
type Result[R any] struct {
	Value R
	Err   error
}

// ApplyFunc applies a batch in order and returns one result per item. A non-nil error fails
// every item of the batch (for example a failed commit); per-item failures (a lost
// compare-and-set) go in the results instead, and must leave the store unchanged for that item.
type ApplyFunc[T, R any] func(batch []T) ([]Result[R], error)

// Config bounds the queue.
type Config struct {
	// Depth is how many submitted items may wait for the writer. Default DefaultDepth.
	Depth int
	// MaxBatch is the most items applied in one batch. Default DefaultMaxBatch.
	MaxBatch int
	// Observe, when set, is called by the writer goroutine after each batch with its size.
	Observe func(batchSize int)
	// Sync, when set, runs after each applied batch, before its callers hear. An error fails
	// the batch and stops the queue for good (ErrBroken).
	Sync func() error
	// Admit, when set, runs before each batch; an error refuses every item of the batch.
	Admit func() error
}

type request[T, R any] struct {
	item T
	done chan Result[R] // buffered, so the writer never blocks on a caller that has gone
}

// Queue is a bounded single-writer queue. Create it with New; it is safe for concurrent use.
type Queue[T, R any] struct {
	apply    ApplyFunc[T, R]
	maxBatch int
	observe  func(int)
	sync     func() error
	admit    func() error

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	in     chan request[T, R]
	broken atomic.Pointer[error] // set once, by the writer, when Sync fails

	abandon     chan struct{} // closed by Close at its deadline: answer the rest with ErrClosed
	abandonOnce sync.Once
	stopped     chan struct{}
}

// New starts the writer goroutine. Call Close to stop it.
func New[T, R any](cfg Config, apply ApplyFunc[T, R]) *Queue[T, R] {
	if cfg.Depth <= 0 {
		cfg.Depth = DefaultDepth
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	q := &Queue[T, R]{
		apply:    apply,
		maxBatch: cfg.MaxBatch,
		observe:  cfg.Observe,
		sync:     cfg.Sync,
		admit:    cfg.Admit,
		in:       make(chan request[T, R], cfg.Depth),
		abandon:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go func() { q.run(); close(q.stopped) }()
	return q
}

// Submit queues item and waits for its result. If ctx ends first, Submit returns ctx.Err(),
// but the item, once queued, may still be applied: the caller cannot know, just as with a
// reply lost on the network.
func (q *Queue[T, R]) Submit(ctx context.Context, item T) (R, error) {
	var zero R
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	req := request[T, R]{item: item, done: make(chan Result[R], 1)}
	if err := q.broken.Load(); err != nil {
		return zero, *err
	}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return zero, ErrClosed
	}
	select {
	case q.in <- req:
	default:
		q.mu.RUnlock()
		return zero, ErrFull
	}
	q.mu.RUnlock()
	select {
	case res := <-req.done:
		return res.Value, res.Err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Len is how many items wait for the writer now.
func (q *Queue[T, R]) Len() int { return len(q.in) }

// Close stops intake and applies what is queued. If ctx ends first, the items still queued
// are answered with ErrClosed and Close waits for the batch being applied to finish: it never
// returns while the writer goroutine can still touch the store.
func (q *Queue[T, R]) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.in)
	}
	q.mu.Unlock()
	select {
	case <-q.stopped:
		return nil
	case <-ctx.Done():
	}
	left := len(q.in)
	q.abandonOnce.Do(func() { close(q.abandon) })
	<-q.stopped
	return fmt.Errorf("writer did not drain in time; %d queued items were answered %q: %w", left, ErrClosed, ctx.Err())
}

func (q *Queue[T, R]) run() {
	items := make([]T, 0, q.maxBatch)
	reqs := make([]request[T, R], 0, q.maxBatch)
	for first := range q.in {
		reqs = append(reqs[:0], first)
	drain:
		for len(reqs) < q.maxBatch {
			select {
			case r, ok := <-q.in:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		items = items[:0]
		for _, r := range reqs {
			items = append(items, r.item)
		}
		q.finish(reqs, items)
		clear(items) // drop references so the garbage collector can take the items
		clear(reqs)
	}
}

func (q *Queue[T, R]) finish(reqs []request[T, R], items []T) {
	select {
	case <-q.abandon:
		answer(reqs, nil, ErrClosed)
		return
	default:
	}
	if err := q.broken.Load(); err != nil {
		answer(reqs, nil, *err)
		return
	}
	if q.admit != nil {
		if err := q.admit(); err != nil {
			answer(reqs, nil, err)
			return
		}
	}
	if q.observe != nil {
		q.observe(len(items))
	}
	results, err := q.apply(items)
	if err == nil && len(results) != len(items) {
		err = errors.New("writer: apply returned the wrong number of results")
	}
	if err == nil && q.sync != nil {
		if serr := q.sync(); serr != nil {
			err = fmt.Errorf("%w: %v", ErrBroken, serr)
			q.broken.Store(&err)
		}
	}
	answer(reqs, results, err)
}

func answer[T, R any](reqs []request[T, R], results []Result[R], err error) {
	for i, r := range reqs {
		if err != nil {
			r.done <- Result[R]{Err: err}
			continue
		}
		r.done <- results[i]
	}
}
