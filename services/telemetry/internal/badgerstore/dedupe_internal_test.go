package badgerstore

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// A committed call's correlation id is remembered with its seq and time, in the same commit,
// under a key that expires after DedupeFor; calls without an id, or a unit without
// DedupeFor, leave no key; an expired key is not reported.
func TestCorrelationsAreRememberedWithATTL(t *testing.T) {
	db, err := badgerdb.Open(t.TempDir(), badgerdb.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := New(db)
	defer s.Close()
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	call := func(seq uint64, id string) *telemetryv1.ToolCall {
		return &telemetryv1.ToolCall{Seq: seq, CorrelationId: id, Tool: "t", Status: telemetryv1.CallStatus_CALL_STATUS_OK, Time: timestamppb.New(at)}
	}
	before := time.Now()
	if err := s.Commit(&recorder.Unit{Calls: []*telemetryv1.ToolCall{call(1, "a"), call(2, "")}, LastCallSeq: 2, DedupeFor: recorder.DedupeWindow}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if err := s.Commit(&recorder.Unit{Calls: []*telemetryv1.ToolCall{call(3, "b")}, LastCallSeq: 3}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Correlations([]string{"a", "b", "", "never"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["a"].Seq != 1 || !got["a"].Time.Equal(at) || got["a"].Duplicate {
		t.Fatalf("remembered %+v, want only a (seq 1 at %s)", got, at)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(dedupeKey("a"))
		if err != nil {
			return err
		}
		lo, hi := uint64(before.Add(recorder.DedupeWindow).Unix()), uint64(after.Add(recorder.DedupeWindow).Unix())+1
		if exp := item.ExpiresAt(); exp < lo || exp > hi {
			t.Errorf("key of a expires at %d, want between %d and %d (DedupeWindow after its commit)", exp, lo, hi)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// An expired key is as good as gone.
	expired := badger.NewEntry(dedupeKey("old"), make([]byte, dedupeValueBytes))
	expired.ExpiresAt = uint64(time.Now().Add(-time.Minute).Unix())
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.SetEntry(expired) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Correlations([]string{"old"}); err != nil || len(got) != 0 {
		t.Fatalf("expired id reported: %+v %v", got, err)
	}
}
