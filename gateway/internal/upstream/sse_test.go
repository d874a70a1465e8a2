package upstream

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSSEReader(t *testing.T) {
	stream := ": a comment\r\n" +
		"id: 1\r\nretry: 250\r\ndata: {\"a\":1}\r\n\r\n" + // CRLF
		"event: message\ndata:  two spaces\ndata: second line\n\n" + // one space is the separator
		"id: prime\n\n" + // a priming event: an id alone
		"\n\n" + // nothing to dispatch
		"data: " + strings.Repeat("x", 20) + "\ndata: " + strings.Repeat("x", 20) + "\nid: big\n\n" + // over the bound
		"data: " + strings.Repeat("z", 2*sseSlack) + "\n\n" + // far over it: its line is dropped unread
		"event: other\ndata: {}\n\n" +
		"data: cut short at the end"
	want := []event{
		{id: "1", hasID: true, retry: 250 * time.Millisecond, data: []byte(`{"a":1}`)},
		{name: "message", data: []byte(" two spaces\nsecond line")},
		{id: "prime", hasID: true},
		{id: "big", hasID: true, tooLarge: true},
		{tooLarge: true},
		{name: "other", data: []byte(`{}`)},
	}
	r := newSSEReader(strings.NewReader(stream), 32)
	for i, w := range want {
		ev, err := r.next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !reflect.DeepEqual(ev, w) {
			t.Errorf("event %d = %+v, want %+v", i, ev, w)
		}
	}
	if ev, err := r.next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last event: %+v, %v; want io.EOF", ev, err)
	}
}

// FuzzSSEReader: any stream is read to its end without holding an event over the bound.
func FuzzSSEReader(f *testing.F) {
	f.Add("id: 1\ndata: {}\n\n", int64(16))
	f.Add("data: a\r\ndata: b\r\n\r\n: c\nretry: x\n\n", int64(4))
	f.Add(strings.Repeat("data: "+strings.Repeat("y", 100)+"\n", 10)+"\n", int64(64))
	f.Fuzz(func(t *testing.T, stream string, max int64) {
		if max <= 0 || max > 1<<20 {
			t.Skip()
		}
		r := newSSEReader(strings.NewReader(stream), max)
		for range len(stream) + 1 {
			ev, err := r.next()
			if err != nil {
				return
			}
			if int64(len(ev.data)) > max {
				t.Fatalf("an event of %d bytes over the bound %d", len(ev.data), max)
			}
		}
		t.Fatal("more events than bytes")
	})
}
