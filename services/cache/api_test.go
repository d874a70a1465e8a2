package cache_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
)

func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	ctx := context.Background()
	before := stats(t, r.client).GetRevision()
	okPut := func(f func(p *cachev1.PutRequest)) *cachev1.PutRequest {
		p := &cachev1.PutRequest{Namespace: "ns", Key: "k", Value: []byte("v"), Tags: []string{"a"}}
		f(p)
		return p
	}
	manyTags := make([]string, 33)
	for i := range manyTags {
		manyTags[i] = "tag" + strings.Repeat("x", i)
	}
	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"no namespace", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Namespace = "" })), codes.InvalidArgument, "namespace is required"},
		{"upper-case namespace", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Namespace = "Disc" })), codes.InvalidArgument, `namespace "Disc" has 'D' at byte 0`},
		{"slash in namespace", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Namespace = "a/b" })), codes.InvalidArgument, "use only a-z, 0-9"},
		{"namespace over 64", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Namespace = strings.Repeat("n", 65) })), codes.InvalidArgument, "namespace is 65 bytes, over the limit of 64"},
		{"no key", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Key = "" })), codes.InvalidArgument, "key is required"},
		{"key over 1 KiB", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Key = strings.Repeat("k", 1025) })), codes.InvalidArgument, "key is 1025 bytes, over the limit of 1024"},
		{"control character in key", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Key = "a\nb" })), codes.InvalidArgument, "key has control character U+000A at byte 1"},
		{"value over 16 MiB", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Value = make([]byte, 16<<20+1) })), codes.ResourceExhausted, "value is 16777217 bytes, over the limit of 16777216"},
		{"negative ttl", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Ttl = durationpb.New(-time.Second) })), codes.InvalidArgument, "ttl must be positive"},
		{"ttl over the maximum", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Ttl = durationpb.New(31 * 24 * time.Hour) })), codes.InvalidArgument, "ttl 744h0m0s is over the limit of 720h0m0s"},
		{"malformed ttl", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Ttl = &durationpb.Duration{Seconds: 1, Nanos: -1} })), codes.InvalidArgument, "ttl:"},
		{"33 tags", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Tags = manyTags })), codes.InvalidArgument, "33 tags, over the limit of 32"},
		{"empty tag", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Tags = []string{"a", ""} })), codes.InvalidArgument, "tags[1] is required"},
		{"tag over 256", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Tags = []string{strings.Repeat("t", 257)} })), codes.InvalidArgument, "tags[0] is 257 bytes, over the limit of 256"},
		{"repeated tag", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Tags = []string{"a", "b", "a"} })), codes.InvalidArgument, `tags[2] repeats tags[0] ("a")`},
		{"get: bad namespace", func() error {
			_, err := r.client.Get(ctx, &cachev1.GetRequest{Namespace: "a b", Key: "k"})
			return err
		}, codes.InvalidArgument, "namespace \"a b\" has ' '"},
		{"delete: no key", func() error {
			_, err := r.client.Delete(ctx, &cachev1.DeleteRequest{Namespace: "ns"})
			return err
		}, codes.InvalidArgument, "key is required"},
		{"invalidate: no tag", func() error {
			_, err := r.client.InvalidateByTag(ctx, &cachev1.InvalidateByTagRequest{})
			return err
		}, codes.InvalidArgument, "tag is required"},
		{"discovery: negative samples", func() error {
			_, err := r.client.DiscoveryKey(ctx, &cachev1.DiscoveryKeyRequest{ConnectionId: "@c", ComponentId: "c", Samples: -1})
			return err
		}, codes.InvalidArgument, "samples must be between 0 and 100"},
		{"message over the gRPC limit", putErr(r, okPut(func(p *cachev1.PutRequest) { p.Value = make([]byte, 17<<20) })), codes.ResourceExhausted, "larger than max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(tt.call())
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("err = %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
		})
	}
	s := stats(t, r.client)
	if s.GetEntries() != 0 || s.GetRevision() != before {
		t.Fatalf("bad input changed the store: %d entries, revision %d -> %d", s.GetEntries(), before, s.GetRevision())
	}
	// The limits themselves are accepted.
	put(t, r.client, strings.Repeat("n", 64), strings.Repeat("k", 1024), "", 30*24*time.Hour, manyTags[:32]...)
}

func putErr(r *running, p *cachev1.PutRequest) func() error {
	return func() error {
		_, err := r.client.Put(context.Background(), p)
		return err
	}
}

// A 16 MiB value (the default limit) is far over what one Badger transaction holds inline,
// and batches of values just under Badger's inline threshold fill several transactions; all
// of them round-trip, also after a restart.
func TestValuesOverTheTransactionSize(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	big := make([]byte, 16<<20)
	rand.Read(big)
	if _, err := r.client.Put(context.Background(), &cachev1.PutRequest{Namespace: "big", Key: "16MiB", Value: big}); err != nil {
		t.Fatal(err)
	}
	mid := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 12 { // 12 x 900 KiB arriving together: about 10 MiB, two transactions or more
		wg.Go(func() {
			v := make([]byte, 900<<10)
			rand.Read(v)
			key := "mid" + string(rune('a'+w))
			if _, err := r.client.Put(context.Background(), &cachev1.PutRequest{Namespace: "big", Key: key, Value: v}); err != nil {
				t.Errorf("put %s: %v", key, err)
				return
			}
			mu.Lock()
			mid[key] = v
			mu.Unlock()
		})
	}
	wg.Wait()
	check := func() {
		if e := get(t, r.client, "big", "16MiB"); e == nil || !bytes.Equal(e.GetValue(), big) {
			t.Fatal("16 MiB value did not round-trip")
		}
		for k, v := range mid {
			if e := get(t, r.client, "big", k); e == nil || !bytes.Equal(e.GetValue(), v) {
				t.Fatalf("%s did not round-trip", k)
			}
		}
	}
	check()
	r.stop(t)
	r = start(t, testConfig(dir))
	check()
	wantStats(t, stats(t, r.client), [6]uint64{13, 3 + 5 + 16<<20 + 12*(3+4+900<<10), 26, 0, 0, 0}) // 13 hits before the restart, 13 after
}

// The original's invalidate_connection is InvalidateByTag("connection:<id>"): it removes
// exactly the entries carrying the tag, in every namespace, and says how many.
func TestInvalidateByTagRemovesExactlyTheTaggedEntries(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	for i := range 30 {
		conn := []string{"connection:@mysql.main", "connection:@pg.main", "connection:@mysql.main"}[i%3]
		put(t, r.client, []string{"disc", "other"}[i%2], keyOf(i), "v", 0, conn, "kind:"+keyOf(i%4))
	}
	resp, err := r.client.InvalidateByTag(context.Background(), &cachev1.InvalidateByTagRequest{Tag: "connection:@mysql.main"})
	if err != nil || resp.GetRemoved() != 20 {
		t.Fatalf("invalidate = %v, %v; want 20 removed", resp, err)
	}
	for i := range 30 {
		if got := get(t, r.client, []string{"disc", "other"}[i%2], keyOf(i)) != nil; got != (i%3 == 1) {
			t.Fatalf("entry %d present = %v after invalidating @mysql.main", i, got)
		}
	}
	if resp, _ := r.client.InvalidateByTag(context.Background(), &cachev1.InvalidateByTagRequest{Tag: "connection:@nobody"}); resp.GetRemoved() != 0 {
		t.Fatalf("unknown tag removed %d", resp.GetRemoved())
	}
	if resp, _ := r.client.ClearAll(context.Background(), &cachev1.ClearAllRequest{}); resp.GetRemoved() != 10 {
		t.Fatalf("clear all removed %d, want 10", resp.GetRemoved())
	}
	if s := stats(t, r.client); s.GetEntries() != 0 || s.GetBytes() != 0 {
		t.Fatalf("after clear: %d entries, %d bytes", s.GetEntries(), s.GetBytes())
	}
}

func TestDiscoveryKeyVectorsOverGRPC(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	for _, tt := range []struct{ idem, cacheKey string }{{"abc123", "cache_5e5db3353566aa6b"}, {"", "cache_294dd50bdcc53751"}} {
		resp, err := r.client.DiscoveryKey(context.Background(), &cachev1.DiscoveryKeyRequest{
			ConnectionId: "@mysql.main", ComponentId: "mysql.extractor", Samples: 10, IdempotencyKey: tt.idem})
		if err != nil || resp.GetDiscoveryId() != "disc_d1690eb498c38098" || resp.GetCacheKey() != tt.cacheKey {
			t.Fatalf("DiscoveryKey(idempotency %q) = %v, %v", tt.idem, resp, err)
		}
	}
}
