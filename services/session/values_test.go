package session_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
)

// ListValues pages in key order by count and by size (a page's values stay within the value
// size limit), filters by prefix, and returns every value exactly as it was set.
func TestListValuesPagesByCountAndSize(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxValueBytes = 4096
	r := start(t, cfg)
	mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: "p"})
	want := map[string]*structpb.Value{}
	for i := range 25 {
		key := fmt.Sprintf("turn:%02d", i)
		v := structpb.NewStringValue(strings.Repeat("x", 1000)) // four fit under 4096 bytes
		if i%5 == 0 {
			v = value(map[string]any{"i": i, "nested": []any{nil, true, 1.5, "s", map[string]any{}}})
		}
		want[key] = v
		mustSet(t, r.client, "p", key, v, -1)
	}
	mustSet(t, r.client, "p", "other", structpb.NewNullValue(), -1)

	var got []string
	req := &sessionv1.ListValuesRequest{SessionId: "p", Prefix: "turn:", PageSize: 7}
	for pages := 1; ; pages++ {
		resp, err := r.client.ListValues(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, e := range resp.GetEntries() {
			if !proto.Equal(e.GetValue(), want[e.GetKey()]) {
				t.Fatalf("%s = %v, set %v", e.GetKey(), e.GetValue(), want[e.GetKey()])
			}
			size += proto.Size(e.GetValue()) + len(e.GetKey())
			got = append(got, e.GetKey())
		}
		if len(resp.GetEntries()) > 7 || size > 4096 {
			t.Fatalf("page %d: %d entries, %d bytes", pages, len(resp.GetEntries()), size)
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		if pages > 25 {
			t.Fatal("paging does not end")
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if len(got) != 25 || got[0] != "turn:00" || got[24] != "turn:24" {
		t.Fatalf("listed %d keys %v", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Fatalf("keys out of order: %s before %s", got[i-1], got[i])
		}
	}
}
