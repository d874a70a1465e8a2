package writer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osirisplane/osiris/platform/apierr"
)

// Every caller hears only after the Sync that followed the apply of its batch.
func TestSyncAcknowledgesOnlyAfterSync(t *testing.T) {
	var applied, syncedUpTo atomic.Int64
	q := New(Config{Sync: func() error { syncedUpTo.Store(applied.Load()); return nil }},
		func(batch []int) ([]Result[int], error) {
			out := make([]Result[int], len(batch))
			for i := range batch {
				out[i].Value = int(applied.Add(1))
			}
			return out, nil
		})
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			v, err := q.Submit(context.Background(), 0)
			if err != nil {
				t.Errorf("submit: %v", err)
				return
			}
			if int64(v) > syncedUpTo.Load() {
				t.Errorf("item %d acknowledged before a sync covered it (synced up to %d)", v, syncedUpTo.Load())
			}
		})
	}
	wg.Wait()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSyncFailureBreaksTheQueue(t *testing.T) {
	diskGone := errors.New("EIO")
	fail := atomic.Bool{}
	q := New(Config{Sync: func() error {
		if fail.Load() {
			return diskGone
		}
		return nil
	}}, func(batch []int) ([]Result[int], error) { return make([]Result[int], len(batch)), nil })
	defer q.Close(context.Background())
	if _, err := q.Submit(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	_, err := q.Submit(context.Background(), 2)
	if !errors.Is(err, ErrBroken) || !errors.Is(err, apierr.ErrUnavailable) {
		t.Fatalf("submit during a failed sync: %v, want ErrBroken", err)
	}
	fail.Store(false) // a disk that "recovers" is not trusted: the queue stays broken
	if _, err := q.Submit(context.Background(), 3); !errors.Is(err, ErrBroken) {
		t.Fatalf("submit after a failed sync: %v, want ErrBroken", err)
	}
}

func TestCloseSyncsWhatIsQueued(t *testing.T) {
	var synced, applied atomic.Int64
	q := New(Config{Sync: func() error { synced.Store(applied.Load()); return nil }},
		func(batch []int) ([]Result[int], error) {
			applied.Add(int64(len(batch)))
			return make([]Result[int], len(batch)), nil
		})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { q.Submit(context.Background(), 1) })
	}
	wg.Wait()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if synced.Load() != 100 || applied.Load() != 100 {
		t.Fatalf("applied %d, synced %d; want 100 each", applied.Load(), synced.Load())
	}
}

// A writer stuck in a slow apply when Close's deadline passes: the items still queued are
// answered with ErrClosed, and Close returns only after the stuck batch is done, so closing the
// store after Close cannot race with the writer (the race detector checks the plain variable).
func TestCloseAfterDeadlineWaitsForTheWriter(t *testing.T) {
	store := 0 // stands for the store; written by apply and by the "close" after Close
	entered, release := make(chan struct{}), make(chan struct{})
	q := New(Config{Depth: 100}, func(batch []int) ([]Result[int], error) {
		if batch[0] == 0 {
			close(entered)
			<-release // a slow sync
		}
		store += len(batch)
		return make([]Result[int], len(batch)), nil
	})
	stuck := make(chan error, 1)
	go func() { _, err := q.Submit(context.Background(), 0); stuck <- err }()
	<-entered
	const queued = 5
	errs := make(chan error, queued)
	for i := range queued {
		go func() { _, err := q.Submit(context.Background(), i+1); errs <- err }()
	}
	waitFor(t, func() bool { return q.Len() == queued })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	go func() { <-q.abandon; close(release) }() // released once Close has given up
	err := q.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %v, want a deadline error", err)
	}
	store = -1 // the store is closed
	if err := <-stuck; err != nil {
		t.Fatalf("the batch being applied at the deadline: %v, want it to finish", err)
	}
	for range queued {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("queued item: %v, want ErrClosed", err)
		}
	}
}

func TestAdmitRefusesTheBatch(t *testing.T) {
	full := errors.New("disk almost full")
	var refuse atomic.Bool
	var applied atomic.Int64
	q := New(Config{Admit: func() error {
		if refuse.Load() {
			return full
		}
		return nil
	}}, func(batch []int) ([]Result[int], error) {
		applied.Add(int64(len(batch)))
		return make([]Result[int], len(batch)), nil
	})
	defer q.Close(context.Background())
	refuse.Store(true)
	if _, err := q.Submit(context.Background(), 1); !errors.Is(err, full) {
		t.Fatalf("submit while refused: %v", err)
	}
	refuse.Store(false)
	if _, err := q.Submit(context.Background(), 2); err != nil {
		t.Fatalf("submit after recovery: %v", err)
	}
	if applied.Load() != 1 {
		t.Fatalf("applied %d items, want only the admitted one", applied.Load())
	}
}
