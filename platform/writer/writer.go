// Package writer is the single-writer queue every service puts in front of its store.
//
// One goroutine owns all writes. Callers Submit an item and wait; the goroutine drains
// whatever is queued, hands the whole batch to the service's apply function (which commits it
// as one synced transaction), and then answers every waiter. That is group commit: the cost of
// a sync is shared by all the calls waiting on it, and because only one goroutine ever writes,
// read-modify-write sequences (hash chains, counters, compare-and-set) need no locks.
//
// With Config.Sync set, committing and syncing are split: the writer commits each batch
// without waiting for the disk, and a second goroutine calls Sync and then acknowledges every
// batch committed before that Sync began. The fsync of one batch then overlaps the work of the
// next, and one fsync covers every batch that committed while the previous one ran. Later
// batches still see earlier ones (they are committed), so read-modify-write stays correct; what
// waits for the disk is only the acknowledgement. If Sync ever fails, the queue stops for good:
// the state on disk is unknown, and the service must be restarted to recover from its log.
//
// The queue is bounded. When it is full Submit fails at once with an error wrapping
// apierr.ErrResourceExhausted instead of building an unbounded backlog. Close stops intake,
// applies and syncs everything already queued, and returns when both goroutines have exited.
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

// syncDepth bounds how many committed batches may wait for a Sync before the writer waits.
const syncDepth = 64

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
	// Sync, when set, makes the store durable; acknowledgements wait for it (see the package
	// comment). Without it, the apply function must make each batch durable itself.
	Sync func() error
}

type request[T, R any] struct {
	item T
	done chan Result[R] // buffered, so the writer never blocks on a caller that has gone
}

// committed is a batch that is applied and waits for a Sync before its callers hear.
type committed[T, R any] struct {
	reqs    []request[T, R]
	results []Result[R]
}

// Queue is a bounded single-writer queue. Create it with New; it is safe for concurrent use.
type Queue[T, R any] struct {
	apply    ApplyFunc[T, R]
	maxBatch int
	observe  func(int)
	sync     func() error

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	in     chan request[T, R]
	broken atomic.Pointer[error] // set once, by the syncer, when Sync fails

	toSync  chan committed[T, R]
	stopped chan struct{}
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
		in:       make(chan request[T, R], cfg.Depth),
		stopped:  make(chan struct{}),
	}
	if q.sync == nil {
		go func() { q.run(); close(q.stopped) }()
		return q
	}
	q.toSync = make(chan committed[T, R], syncDepth)
	synced := make(chan struct{})
	go func() { q.run(); close(q.toSync); <-synced; close(q.stopped) }()
	go func() { q.syncLoop(); close(synced) }()
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

// Close stops intake, applies what is queued and waits for the writer to exit, or for ctx.
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
		return fmt.Errorf("writer did not drain in time (%d items left): %w", len(q.in), ctx.Err())
	}
}

func (q *Queue[T, R]) run() {
	items := make([]T, 0, q.maxBatch)
	for first := range q.in {
		// A fresh slice per batch: with a syncer, the batch outlives this iteration.
		reqs := append(make([]request[T, R], 0, min(len(q.in)+1, q.maxBatch)), first)
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
	}
}

func (q *Queue[T, R]) finish(reqs []request[T, R], items []T) {
	if q.observe != nil {
		q.observe(len(items))
	}
	if err := q.broken.Load(); err != nil {
		answer(reqs, nil, *err)
		return
	}
	results, err := q.apply(items)
	if err == nil && len(results) != len(items) {
		err = errors.New("writer: apply returned the wrong number of results")
	}
	if err != nil || q.sync == nil {
		answer(reqs, results, err)
		return
	}
	q.toSync <- committed[T, R]{reqs: reqs, results: results}
}

// syncLoop takes every committed batch waiting, syncs once, then answers them all.
func (q *Queue[T, R]) syncLoop() {
	for first := range q.toSync {
		group := []committed[T, R]{first}
	drain:
		for {
			select {
			case c, ok := <-q.toSync:
				if !ok {
					break drain
				}
				group = append(group, c)
			default:
				break drain
			}
		}
		var err error
		if prev := q.broken.Load(); prev != nil {
			err = *prev
		} else if serr := q.sync(); serr != nil {
			err = fmt.Errorf("%w: %v", ErrBroken, serr)
			q.broken.Store(&err)
		}
		for _, c := range group {
			answer(c.reqs, c.results, err)
		}
	}
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
