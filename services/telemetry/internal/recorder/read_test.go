package recorder

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
)

// readStore serves many tools and calls without storing them.
type readStore struct {
	Store // unused methods panic
	tools int
	calls uint64
}

func (s *readStore) LastSeqs() (uint64, uint64, error) { return 0, 0, nil }
func (s *readStore) Sync() error                       { return nil }
func (s *readStore) Close() error                      { return nil }

func (s *readStore) ScanAggregates(_ context.Context, _ AggQuery, fn func(string, *aggregate.Aggregate) error) error {
	for i := range s.tools {
		a := aggregate.New()
		for range i%7 + 1 {
			if err := a.Add(aggregate.Call{DurationMs: 1}); err != nil {
				return err
			}
		}
		if err := fn(fmt.Sprintf("tool%04d", i), a); err != nil {
			return err
		}
	}
	return nil
}

// ScanCalls serves calls 1..calls, call n at n microseconds after the epoch, all of tool "x".
func (s *readStore) ScanCalls(_ context.Context, _ CallIndex, from Position, fn func(*telemetryv1.ToolCall) (bool, error)) error {
	for seq := from.Seq + 1; seq <= s.calls; seq++ {
		c := &telemetryv1.ToolCall{Seq: seq, Tool: "x", Time: timestamppb.New(time.Unix(0, int64(seq)*1000))}
		if more, err := fn(c); err != nil || !more {
			return err
		}
	}
	return nil
}

func openRead(t *testing.T, s *readStore) *Recorder {
	t.Helper()
	r, err := Open(s, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// The per-tool breakdown stops at MaxSummaryTools, busiest first; the totals count them all.
func TestSummaryBreakdownIsBounded(t *testing.T) {
	r := openRead(t, &readStore{tools: MaxSummaryTools + 5})
	s, err := r.Summary(context.Background(), SummaryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(0)
	for i := range MaxSummaryTools + 5 {
		want += uint64(i%7 + 1)
	}
	if len(s.Tools) != MaxSummaryTools || !s.ToolsTruncated || s.Total.Calls != want {
		t.Fatalf("%d tools, truncated %v, %d calls; want %d, true, %d", len(s.Tools), s.ToolsTruncated, s.Total.Calls, MaxSummaryTools, want)
	}
	if s.Tools[0].Calls != 7 || s.Tools[0].Tool != "tool0006" || s.Tools[len(s.Tools)-1].Calls != 1 {
		t.Fatalf("breakdown not busiest first: first %s (%d), last %d", s.Tools[0].Tool, s.Tools[0].Calls, s.Tools[len(s.Tools)-1].Calls)
	}
	names, err := BusiestTools(context.Background(), &readStore{tools: 20}, 3)
	if err != nil || fmt.Sprint(names) != "[tool0006 tool0013 tool0005]" {
		t.Fatalf("BusiestTools = %v, %v", names, err)
	}
}

// One List call examines at most MaxExamined records; a filter that matches nothing still
// returns a token, and following the tokens ends.
func TestListExaminesAtMostMaxExamined(t *testing.T) {
	const calls = 2*MaxExamined + 17
	r := openRead(t, &readStore{calls: calls})
	f := CallFilter{Status: telemetryv1.CallStatus_CALL_STATUS_ERROR} // matches none
	token, pages := "", 0
	for {
		got, next, err := r.ListCalls(context.Background(), f, 10, token)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("%d calls matched a filter that matches none", len(got))
		}
		pages++
		if next == "" {
			break
		}
		token = next
	}
	if pages != 3 {
		t.Fatalf("%d pages for %d records, want 3", pages, calls)
	}
	// Matching everything: pages of the asked size, then the rest.
	got, next, err := r.ListCalls(context.Background(), CallFilter{}, MaxPageSize+500, "")
	if err != nil || len(got) != MaxPageSize || next == "" {
		t.Fatalf("page of %d (max %d), next %q, %v", len(got), MaxPageSize, next, err)
	}
}
