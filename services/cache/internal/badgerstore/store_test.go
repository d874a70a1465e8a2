package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
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

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func meta(key string, rev uint64, expires time.Duration, size int, tags ...string) entrycache.Meta {
	return entrycache.Meta{
		ID: entrycache.ID{Namespace: "ns", Key: key}, Revision: rev, CreatedAt: t0, ExpiresAt: t0.Add(expires),
		TTL: expires, Tags: tags, ValueSize: int64(size), Stamp: rev,
	}
}

func value(i, size int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }

// Twenty values of 900 KiB (inline in Badger) with a checkpoint after each: the batch commits
// in several transactions, never hits ErrTxnTooBig, and everything lands with the last state.
func TestCheckpointsSplitLargeBatchesAtConsistentPoints(t *testing.T) {
	s := open(t)
	b := s.Begin().(*batch)
	for i := range 20 {
		m := meta(fmt.Sprint(i), uint64(i+1), time.Hour, 900<<10)
		if err := b.Put(m, value(i, 900<<10)); err != nil {
			t.Fatal(err)
		}
		if err := b.Checkpoint(entrycache.State{Revision: m.Revision}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(entrycache.State{Revision: 20, Hits: 7}); err != nil {
		t.Fatal(err)
	}
	if b.commits < 3 {
		t.Fatalf("%d commits for 18 MiB; the batch was not split", b.commits)
	}
	checkValues(t, s, 20, 900<<10)
	if st, err := s.LoadState(); err != nil || st.Revision != 20 || st.Hits != 7 {
		t.Fatalf("state = %+v, %v", st, err)
	}
}

// Without checkpoints the batch still goes through: on ErrTxnTooBig it commits and continues.
func TestTxnTooBigCommitsAndContinues(t *testing.T) {
	s := open(t)
	b := s.Begin().(*batch)
	for i := range 20 {
		if err := b.Put(meta(fmt.Sprint(i), uint64(i+1), time.Hour, 900<<10), value(i, 900<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(entrycache.State{Revision: 20}); err != nil {
		t.Fatal(err)
	}
	if b.commits < 3 {
		t.Fatalf("%d commits; ErrTxnTooBig never struck", b.commits)
	}
	checkValues(t, s, 20, 900<<10)
}

func checkValues(t *testing.T, s *Store, n, size int) {
	t.Helper()
	seen := 0
	err := s.ScanMeta(func(m entrycache.Meta) error {
		seen++
		var i int
		fmt.Sscan(m.ID.Key, &i)
		_, v, err := s.Read(m.ID)
		if err != nil || !bytes.Equal(v, value(i, size)) || m.ValueSize != int64(size) {
			return fmt.Errorf("entry %s: %v", m.ID.Key, err)
		}
		return nil
	})
	if err != nil || seen != n {
		t.Fatalf("scan saw %d of %d: %v", seen, n, err)
	}
}

// The indexes: Expired is a range scan in expiry order up to a time (inclusive), Tagged
// finds exactly the tagged entries, and both see the batch's own deletes.
func TestIndexesFollowTheBatch(t *testing.T) {
	s := open(t)
	b := s.Begin()
	defer b.Discard()
	for i, exp := range []time.Duration{30, 10, 20, 40, 10} {
		tags := []string{"all"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		if err := b.Put(meta(fmt.Sprint(i), uint64(i+1), exp*time.Second, 1, tags...), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(ms []entrycache.Meta, err error) []string {
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.ID.Key)
		}
		return out
	}
	if got := keys(b.Expired(t0.Add(20*time.Second), 10)); !slices.Equal(got, []string{"1", "4", "2"}) {
		t.Fatalf("expired by +20s = %v, want [1 4 2]", got)
	}
	if got := keys(b.Expired(t0.Add(time.Hour), 2)); len(got) != 2 {
		t.Fatalf("limit 2 gave %v", got)
	}
	if got := keys(b.Tagged("even")); !slices.Equal(got, []string{"0", "2", "4"}) {
		t.Fatalf("tagged even = %v", got)
	}
	m, err := b.Meta(entrycache.ID{Namespace: "ns", Key: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(m); err != nil {
		t.Fatal(err)
	}
	if got := keys(b.Tagged("even")); !slices.Equal(got, []string{"0", "4"}) {
		t.Fatalf("tagged even after delete = %v", got)
	}
	if got := keys(b.Expired(t0.Add(20*time.Second), 10)); !slices.Equal(got, []string{"1", "4"}) {
		t.Fatalf("expired after delete = %v", got)
	}
	if _, err := b.Meta(m.ID); !errors.Is(err, entrycache.ErrNoEntry) {
		t.Fatalf("deleted entry still readable in the batch: %v", err)
	}
	if got := keys(b.All(10)); len(got) != 4 {
		t.Fatalf("all = %v", got)
	}
}

func TestRecordsRoundTripAndRefuseGarbage(t *testing.T) {
	m := meta("k", 42, 90*time.Minute, 1234, "connection:@mysql.main", "x")
	got, err := decodeMeta(m.ID, encodeMeta(m))
	if err != nil || !got.CreatedAt.Equal(m.CreatedAt) || !got.ExpiresAt.Equal(m.ExpiresAt) || got.Revision != 42 ||
		got.TTL != m.TTL || got.ValueSize != 1234 || !slices.Equal(got.Tags, m.Tags) || got.Stamp != 42 {
		t.Fatalf("meta round trip: %+v, %v", got, err)
	}
	st := entrycache.State{Revision: 9, HighWater: t0, Stamp: 3, Hits: 4, Misses: 5, Evictions: 6, Expirations: 7}
	if gs, err := decodeState(encodeState(st)); err != nil || gs != st {
		t.Fatalf("state round trip: %+v, %v", gs, err)
	}
	enc := encodeMeta(m)
	for _, bad := range [][]byte{nil, {2}, enc[:len(enc)-1], append(enc, 0)} {
		if _, err := decodeMeta(m.ID, bad); err == nil {
			t.Fatalf("decoded garbage %x", bad)
		}
	}
	if _, err := parseID([]byte{5, 'a'}); err == nil {
		t.Fatal("parsed a truncated id")
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(meta("k", 1, time.Hour, 3, "a", "b")))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(entrycache.ID{Namespace: "n", Key: "k"}, b)
		if err == nil && !bytes.Equal(encodeMeta(m), b) {
			// Accepted input must be canonical, except varints can have redundant forms.
			if _, err := decodeMeta(m.ID, encodeMeta(m)); err != nil {
				t.Fatalf("re-encoding of accepted record does not decode: %v", err)
			}
		}
	})
}
