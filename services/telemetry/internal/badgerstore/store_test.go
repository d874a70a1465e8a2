package badgerstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
	"github.com/osirisplane/osiris/services/telemetry/internal/badgerstore"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, o badgerdb.Options) *badgerstore.Store {
	t.Helper()
	db, err := badgerdb.Open(t.TempDir(), o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := badgerstore.New(db)
	t.Cleanup(func() { s.Close() })
	return s
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func call(seq uint64, at time.Duration, session string) *telemetryv1.ToolCall {
	return &telemetryv1.ToolCall{Seq: seq, Time: timestamppb.New(epoch.Add(at)), SessionId: session, Tool: "t",
		CorrelationId: "c", Status: telemetryv1.CallStatus_CALL_STATUS_OK}
}

func scanCount(t *testing.T, s *badgerstore.Store, idx recorder.CallIndex) int {
	t.Helper()
	n := 0
	err := s.ScanCalls(context.Background(), idx, recorder.Position{}, func(*telemetryv1.ToolCall) (bool, error) { n++; return true, nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Retention deletes at most max calls per step, oldest first, each with its index entries,
// and says whether older calls remain.
func TestDeleteCallsBeforeIsChunkedAndCleansIndexes(t *testing.T) {
	s := open(t, badgerdb.Options{})
	u := &recorder.Unit{LastCallSeq: 10}
	for i := range uint64(10) {
		session := "old"
		if i >= 7 {
			session = "new"
		}
		u.Calls = append(u.Calls, call(i+1, time.Duration(i)*time.Hour, session))
	}
	if err := s.Commit(u); err != nil {
		t.Fatal(err)
	}
	cutoff := epoch.Add(7 * time.Hour) // calls 1..7 are before it
	for _, want := range []struct {
		deleted int
		more    bool
	}{{3, true}, {3, true}, {1, false}, {0, false}} {
		n, more, err := s.DeleteCallsBefore(cutoff, 3)
		if err != nil || n != want.deleted || more != want.more {
			t.Fatalf("DeleteCallsBefore = %d, %v, %v; want %d, %v", n, more, err, want.deleted, want.more)
		}
	}
	for _, c := range []struct {
		idx  recorder.CallIndex
		want int
	}{
		{recorder.CallIndex{Kind: recorder.CallsAll}, 3},
		{recorder.CallIndex{Kind: recorder.CallsBySession, Value: "old"}, 0},
		{recorder.CallIndex{Kind: recorder.CallsBySession, Value: "new"}, 3},
		{recorder.CallIndex{Kind: recorder.CallsByTool, Value: "t"}, 3},
		{recorder.CallIndex{Kind: recorder.CallsByCorrelation, Value: "c"}, 3},
	} {
		if got := scanCount(t, s, c.idx); got != c.want {
			t.Fatalf("index %+v lists %d calls, want %d", c.idx, got, c.want)
		}
	}
	if calls, _, err := s.LastSeqs(); err != nil || calls != 10 {
		t.Fatalf("last call seq %d, %v; retention must not move it", calls, err)
	}
}

// A unit larger than one transaction fails whole with ErrTooBig and writes nothing.
func TestCommitTooBigWritesNothing(t *testing.T) {
	s := open(t, badgerdb.Options{MemTableSize: 8 << 20}) // transactions of about 1.2 MiB
	u := &recorder.Unit{LastCallSeq: 500, Aggregates: map[recorder.AggKey]*aggregate.Aggregate{{Kind: recorder.AggGlobal}: aggregate.New()}}
	for i := range uint64(500) {
		c := call(i+1, time.Duration(i)*time.Second, "s")
		c.Error = strings.Repeat("e", 4000)
		u.Calls = append(u.Calls, c)
	}
	if err := s.Commit(u); !errors.Is(err, recorder.ErrTooBig) {
		t.Fatalf("Commit of 2 MB = %v, want ErrTooBig", err)
	}
	if n := scanCount(t, s, recorder.CallIndex{Kind: recorder.CallsAll}); n != 0 {
		t.Fatalf("%d calls written by a failed commit", n)
	}
	aggs, err := s.Aggregates([]recorder.AggKey{{Kind: recorder.AggGlobal}})
	if calls, _, lerr := s.LastSeqs(); err != nil || lerr != nil || len(aggs) != 0 || calls != 0 {
		t.Fatalf("a failed commit left aggregates %v or last seq %d (%v %v)", aggs, calls, err, lerr)
	}
}
