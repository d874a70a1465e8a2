package writer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/osirisplane/osiris/platform/apierr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A counter applied only by the writer goroutine: if two batches ever ran at once, the race
// detector would see it, and the sum would be off.
func TestSubmitManyGoroutinesExactSum(t *testing.T) {
	total := 0
	var batches []int
	q := New(Config{Depth: 10000}, func(batch []int) ([]Result[int], error) {
		batches = append(batches, len(batch))
		out := make([]Result[int], len(batch))
		for i, v := range batch {
			total += v
			out[i] = Result[int]{Value: total}
		}
		return out, nil
	})
	const workers, each = 64, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := q.Submit(context.Background(), w*each+i); err != nil {
					t.Errorf("submit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := workers * each
	if want := n * (n - 1) / 2; total != want {
		t.Fatalf("total = %d, want %d", total, want)
	}
	items := 0
	for _, b := range batches {
		items += b
	}
	if items != n {
		t.Fatalf("batches hold %d items, want %d", items, n)
	}
	if len(batches) >= n {
		t.Fatalf("no batching happened: %d batches for %d items", len(batches), n)
	}
}

func TestFullQueueIsResourceExhausted(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	q := New(Config{Depth: 2, MaxBatch: 1}, func(batch []int) ([]Result[int], error) {
		started <- struct{}{}
		<-release
		return make([]Result[int], len(batch)), nil
	})
	errs := make(chan error, 3)
	submit := func() { _, err := q.Submit(context.Background(), 1); errs <- err }
	go submit()
	<-started // the writer holds item 1; the queue is empty again
	go submit()
	go submit()
	waitFor(t, func() bool { return q.Len() == 2 })
	if _, err := q.Submit(context.Background(), 4); !errors.Is(err, ErrFull) || !errors.Is(err, apierr.ErrResourceExhausted) {
		t.Fatalf("submit to a full queue: %v, want ErrFull", err)
	}
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("queued item failed: %v", err)
		}
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseDrainsQueuedItems(t *testing.T) {
	release := make(chan struct{})
	var applied []int
	var inApply atomic.Int64
	q := New(Config{Depth: 100}, func(batch []int) ([]Result[int], error) {
		inApply.Add(int64(len(batch)))
		<-release
		applied = append(applied, batch...)
		return make([]Result[int], len(batch)), nil
	})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if _, err := q.Submit(context.Background(), i); err != nil {
				t.Errorf("submit %d: %v", i, err)
			}
		})
	}
	waitFor(t, func() bool { return int64(q.Len())+inApply.Load() == 50 })
	closed := make(chan error)
	go func() { closed <- q.Close(context.Background()) }()
	waitFor(t, func() bool {
		q.mu.RLock()
		defer q.mu.RUnlock()
		return q.closed
	})
	if _, err := q.Submit(context.Background(), -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v, want ErrClosed", err)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(applied) != 50 {
		t.Fatalf("applied %d items before close returned, want 50", len(applied))
	}
}

func TestApplyErrorFailsWholeBatch(t *testing.T) {
	boom := errors.New("commit failed")
	q := New(Config{}, func(batch []int) ([]Result[int], error) { return nil, boom })
	defer q.Close(context.Background())
	if _, err := q.Submit(context.Background(), 1); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestPerItemResults(t *testing.T) {
	odd := errors.New("odd")
	q := New(Config{}, func(batch []int) ([]Result[int], error) {
		out := make([]Result[int], len(batch))
		for i, v := range batch {
			if v%2 == 1 {
				out[i].Err = odd
			} else {
				out[i].Value = v * 10
			}
		}
		return out, nil
	})
	defer q.Close(context.Background())
	if v, err := q.Submit(context.Background(), 4); err != nil || v != 40 {
		t.Fatalf("Submit(4) = %d, %v", v, err)
	}
	if _, err := q.Submit(context.Background(), 3); !errors.Is(err, odd) {
		t.Fatalf("Submit(3) err = %v", err)
	}
}

func TestCancelledContextIsNotQueued(t *testing.T) {
	calls := 0
	q := New(Config{}, func(batch []int) ([]Result[int], error) {
		calls++
		return make([]Result[int], len(batch)), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Submit(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("apply ran %d times for a cancelled submit", calls)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
