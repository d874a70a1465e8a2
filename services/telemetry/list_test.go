package telemetry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry"
)

// ListToolCalls filters by session, correlation id, tool, status and time range, pages in
// time order, and binds its page token to the filters it was issued for.
func TestListToolCallsFiltersAndPages(t *testing.T) {
	now := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	cfg := testConfig(t.TempDir())
	cfg.Now = newClock(now).Now
	r := start(t, cfg)
	// Recorded out of time order: call i happened i minutes after base, recorded in reverse.
	base := now.Add(-2 * time.Hour)
	for i := 59; i >= 0; i-- {
		c := okCall(fmt.Sprintf("s%d", i%4), fmt.Sprintf("tool%d", i%5), 1)
		c.CorrelationId = fmt.Sprintf("c%d", i) // unique: a repeated id would be a duplicate
		c.Time = timestamppb.New(base.Add(time.Duration(i) * time.Minute))
		if i%3 == 0 {
			c.Status = telemetryv1.CallStatus_CALL_STATUS_ERROR
		}
		mustRecord(t, r.client, c)
	}
	at := func(i int) *timestamppb.Timestamp { return timestamppb.New(base.Add(time.Duration(i) * time.Minute)) }
	tests := []struct {
		name string
		req  *telemetryv1.ListToolCallsRequest
		want int
	}{
		{"all, small pages", &telemetryv1.ListToolCallsRequest{PageSize: 7}, 60},
		{"session", &telemetryv1.ListToolCallsRequest{SessionId: "s1", PageSize: 4}, 15},
		{"correlation", &telemetryv1.ListToolCallsRequest{CorrelationId: "c3"}, 1},
		{"tool", &telemetryv1.ListToolCallsRequest{Tool: "tool2", PageSize: 5}, 12},
		{"errors", &telemetryv1.ListToolCallsRequest{Status: telemetryv1.CallStatus_CALL_STATUS_ERROR, PageSize: 3}, 20},
		{"session and tool", &telemetryv1.ListToolCallsRequest{SessionId: "s2", Tool: "tool0"}, 3},
		{"time range", &telemetryv1.ListToolCallsRequest{Since: at(10), Until: at(25), PageSize: 4}, 15},
		{"session in a time range", &telemetryv1.ListToolCallsRequest{SessionId: "s0", Since: at(10), Until: at(26)}, 4},
		{"no match", &telemetryv1.ListToolCallsRequest{SessionId: "nobody"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listAll(t, r.client, tt.req)
			if len(got) != tt.want {
				t.Fatalf("%d calls, want %d", len(got), tt.want)
			}
			for i := 1; i < len(got); i++ {
				if !got[i-1].GetTime().AsTime().Before(got[i].GetTime().AsTime()) {
					t.Fatalf("calls out of time order at %d", i)
				}
			}
		})
	}
	resp, err := r.client.ListToolCalls(context.Background(), &telemetryv1.ListToolCallsRequest{SessionId: "s1", PageSize: 2})
	if err != nil || resp.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, token %q", err, resp.GetNextPageToken())
	}
	_, err = r.client.ListToolCalls(context.Background(), &telemetryv1.ListToolCallsRequest{SessionId: "s2", PageToken: resp.GetNextPageToken()})
	wantInvalid(t, err, "different filters")
	big, err := r.client.ListToolCalls(context.Background(), &telemetryv1.ListToolCallsRequest{PageSize: 5000})
	if err != nil || len(big.GetCalls()) != 60 || big.GetNextPageToken() != "" {
		t.Fatalf("page size over the maximum: %d calls, token %q, %v", len(big.GetCalls()), big.GetNextPageToken(), err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig("dir")
	for _, tt := range []struct {
		name string
		mod  func(*telemetry.Config)
		msg  string
	}{
		{"defaults", func(*telemetry.Config) {}, ""},
		{"no data dir", func(c *telemetry.Config) { c.DataDir = "" }, "--data-dir is required"},
		{"retention under an hour", func(c *telemetry.Config) { c.Retention = time.Minute }, "--retention must be at least 1h0m0s"},
		{"retention chunk zero", func(c *telemetry.Config) { c.RetentionChunk = 0 }, "--retention-chunk must be between 1 and 10000"},
		{"retention chunk too big", func(c *telemetry.Config) { c.RetentionChunk = 10001 }, "--retention-chunk must be between 1 and 10000"},
		{"no tool attributes", func(c *telemetry.Config) { c.ToolAttributes = 0 }, "--max-tool-attributes must be between 1 and 1000"},
		{"too many tool attributes", func(c *telemetry.Config) { c.ToolAttributes = 1001 }, "--max-tool-attributes must be between 1 and 1000"},
		{"queue depth", func(c *telemetry.Config) { c.QueueDepth = 0 }, "--queue-depth must be between"},
		{"retention interval", func(c *telemetry.Config) { c.RetentionInterval = 0 }, "--retention-interval must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.msg == "" && err != nil || tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Fatalf("Validate = %v, want %q", err, tt.msg)
			}
		})
	}
}
