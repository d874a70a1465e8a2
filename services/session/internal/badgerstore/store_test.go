package badgerstore

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

func open(t *testing.T) *Store {
	t.Helper()
	db, err := badgerdb.Open(t.TempDir(), badgerdb.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := New(db)
	t.Cleanup(func() { s.Close() })
	return s
}

func write(t *testing.T, s *Store, fn func(sessions.Tx) error) {
	t.Helper()
	if err := s.Write(fn); err != nil {
		t.Fatal(err)
	}
}

func keysWith(t *testing.T, s *Store, prefix []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fill stores a session with values in two generations and some history.
func fill(t *testing.T, s *Store, id string, values int) *sessions.Record {
	t.Helper()
	rec := &sessions.Record{ID: id, State: sessionv1.ChatState_CHAT_STATE_INIT, Deadline: time.Unix(1000, 0), Indexed: time.Unix(1000, 0), ValueGen: 1, HistoryFirst: 1, HistoryNext: 4}
	write(t, s, func(tx sessions.Tx) error {
		if err := tx.PutSession(nil, rec); err != nil {
			return err
		}
		for gen := uint32(0); gen < 2; gen++ {
			for i := range values {
				v := &sessions.Value{Version: int64(i + 1), Data: structpb.NewStringValue(fmt.Sprint(gen, i))}
				if err := tx.PutValue(id, gen, fmt.Sprintf("k%03d", i), v); err != nil {
					return err
				}
			}
		}
		for seq := uint64(1); seq < 4; seq++ {
			tr := &sessionv1.Transition{Seq: seq, From: 1, To: 2, Time: timestamppb.New(time.Unix(int64(seq), 0))}
			if err := tx.AppendHistory(id, tr); err != nil {
				return err
			}
		}
		return nil
	})
	return rec
}

// The id "a" is a prefix of the id "ab": removing and purging "a" leaves every key of "ab"
// and "b" alone, and purging in chunks ends with no key of "a" at all.
func TestRemoveAndPurgeTouchOnlyTheSessionsGroup(t *testing.T) {
	s := open(t)
	a := fill(t, s, "a", 10)
	fill(t, s, "ab", 10)
	fill(t, s, "b", 10)
	others := keysWith(t, s, Group("ab")) + keysWith(t, s, Group("b"))
	if n := keysWith(t, s, Group("a")); n != 1+20+3 {
		t.Fatalf("group of a holds %d keys, want 24", n)
	}
	write(t, s, func(tx sessions.Tx) error { return tx.RemoveSession(a) })
	total := 0
	for round := 0; ; round++ {
		var n int
		var done bool
		write(t, s, func(tx sessions.Tx) (err error) {
			n, done, err = tx.Purge("a", 7)
			return err
		})
		total += n
		if done {
			break
		}
		if n != 7 || round > 5 {
			t.Fatalf("round %d purged %d keys, want chunks of 7", round, n)
		}
	}
	if total != 23 || keysWith(t, s, Group("a")) != 0 || keysWith(t, s, markKey("a")) != 0 {
		t.Fatalf("purged %d keys; %d left in the group, mark left: %v", total, keysWith(t, s, Group("a")), keysWith(t, s, markKey("a")) != 0)
	}
	if n := keysWith(t, s, Group("ab")) + keysWith(t, s, Group("b")); n != others {
		t.Fatalf("purging a changed its neighbours: %d keys, %d before", n, others)
	}
	// The deadline index holds the two others only.
	var due []string
	if err := s.Read(func(r sessions.Reader) error {
		return r.Due(time.Unix(2000, 0), func(id string) bool { due = append(due, id); return true })
	}); err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0] != "ab" || due[1] != "b" {
		t.Fatalf("due %v, want [ab b]", due)
	}
}

// A clear-values mark of a live session purges older generations only.
func TestPurgeOfClearedValuesKeepsTheCurrentGeneration(t *testing.T) {
	s := open(t)
	fill(t, s, "live", 5)
	write(t, s, func(tx sessions.Tx) error { return tx.MarkPurge("live", 1) })
	write(t, s, func(tx sessions.Tx) error {
		n, done, err := tx.Purge("live", 100)
		if err == nil && (n != 5 || !done) {
			err = fmt.Errorf("purged %d (done %v), want 5", n, done)
		}
		return err
	})
	if n := keysWith(t, s, genPrefix("live", 1)); n != 5 {
		t.Fatalf("current generation has %d keys, want 5", n)
	}
	if n := keysWith(t, s, genPrefix("live", 0)); n != 0 {
		t.Fatalf("cleared generation has %d keys left", n)
	}
}

// Records, values and transitions round-trip exactly, and Values pages by key after a cursor.
func TestRoundTripAndValuePaging(t *testing.T) {
	s := open(t)
	rec := fill(t, s, "rt", 4)
	rec.Labels = map[string]string{"user": "ann"}
	rec.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC)
	rec.IdleTTL, rec.Outcome, rec.ErrorMessage = time.Minute, sessionv1.Outcome_OUTCOME_ERROR, "x"
	write(t, s, func(tx sessions.Tx) error { return tx.PutSession(rec, rec) })
	err := s.Read(func(r sessions.Reader) error {
		got, err := r.Session("rt")
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(rec) {
			return fmt.Errorf("record\n%v\nwant\n%v", got, rec)
		}
		var keys []string
		err = r.Values("rt", 1, "k", "k001", func(k string, v *sessions.Value) bool {
			keys = append(keys, k)
			return len(keys) < 2
		})
		if err != nil {
			return err
		}
		if fmt.Sprint(keys) != "[k002 k003]" {
			return fmt.Errorf("page after k001: %v", keys)
		}
		v, err := r.Value("rt", 0, "k003")
		if err != nil {
			return err
		}
		if v.Version != 4 || !proto.Equal(v.Data, structpb.NewStringValue("0 3")) {
			return fmt.Errorf("value %v", v)
		}
		n := 0
		return r.History("rt", func(tr *sessionv1.Transition) bool {
			n++
			if tr.GetSeq() != uint64(n) {
				t.Errorf("history out of order at %d", n)
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
