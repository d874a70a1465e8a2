package audit_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/redact/redacttest"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

// corpusEvent carries case c in every field that can hold free text: the arguments (a string
// or a list, as the case arrives) and, for a single string, the error message, the error
// code and the resource URI, where their limits and rules allow.
func corpusEvent(i int, c redacttest.Case) *auditv1.Event {
	args := map[string]any{"note": c.Text}
	if c.List != nil {
		list := make([]any, len(c.List))
		for j, s := range c.List {
			list[j] = s
		}
		args = map[string]any{"args": list}
	}
	e := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, "redact", fmt.Sprintf("case-%d", i), "run", args)
	if c.List == nil {
		e.ErrorMessage = c.Text
		if len(c.Text) <= ledger.MaxURIBytes {
			e.ResourceUri = c.Text
		}
		if len(c.Text) <= ledger.MaxNameBytes && !strings.ContainsFunc(c.Text, unicode.IsControl) {
			e.ErrorCode = c.Text // a name: control characters are refused there
		}
	}
	return e
}

// TestCorpusIsMaskedInEveryReadAndEveryFile appends the redaction corpus with Append and
// AppendBatch, then looks for every piece of every secret in every read API (gRPC GetEvent,
// ListEvents, TailEvents, ExportEvents; REST list, get and export), in the raw bytes of
// every file of the data directory, and in every version of every Badger key and value.
func TestCorpusIsMaskedInEveryReadAndEveryFile(t *testing.T) {
	cases := redacttest.Corpus()
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var batch []*auditv1.Event
	for i, c := range cases {
		mustAppend(t, r.client, corpusEvent(i, c))
		batch = append(batch, corpusEvent(i, c))
	}
	if _, err := r.client.AppendBatch(ctx, &auditv1.AppendBatchRequest{Events: batch}); err != nil {
		t.Fatalf("append batch: %v", err)
	}
	n := 2 * len(cases)

	var got []byte
	for seq := 1; seq <= n; seq++ {
		e, err := r.client.GetEvent(ctx, &auditv1.GetEventRequest{Seq: uint64(seq)})
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		got = append(got, redacttest.JSON(t, e)...)
	}
	redacttest.CheckJSON(t, "GetEvent", got, cases)

	list := listAll(t, r.client, &auditv1.ListEventsRequest{})
	if len(list) != n {
		t.Fatalf("ListEvents gave %d events, want %d", len(list), n)
	}
	got = nil
	for _, e := range list {
		got = append(got, redacttest.JSON(t, e)...)
	}
	redacttest.CheckJSON(t, "ListEvents", got, cases)

	tail, err := r.client.TailEvents(ctx, &auditv1.TailEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for range n {
		e, err := tail.Recv()
		if err != nil {
			t.Fatalf("tail: %v", err)
		}
		got = append(got, redacttest.JSON(t, e)...)
	}
	redacttest.CheckJSON(t, "TailEvents", got, cases)

	export, err := r.client.ExportEvents(ctx, &auditv1.ExportEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for {
		body, err := export.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		got = append(got, body.GetData()...)
	}
	redacttest.CheckJSON(t, "ExportEvents", got, cases)

	base := "http://" + r.svc.HTTPAddr()
	for _, path := range []string{"/v1/audit/events?pageSize=1000", "/v1/audit/events/1", fmt.Sprintf("/v1/audit/events/%d", n), "/v1/audit/events:export"} {
		redacttest.CheckJSON(t, "REST "+path, redacttest.GET(t, base+path), cases)
	}

	r.stop(t)
	if files := redacttest.CheckDir(t, dir, cases); files == 0 {
		t.Fatalf("no files in %s", dir)
	}
	redacttest.CheckBadger(t, dir, cases)
}

// TestOrdinaryTextIsStoredAsSent appends text that only looks like a secret and reads it
// back unchanged.
func TestOrdinaryTextIsStoredAsSent(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	for i, s := range redacttest.Ordinary() {
		e := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, "plain", fmt.Sprint(i), "run", map[string]any{"note": s, "args": []any{s}})
		e.ErrorMessage, e.ResourceUri = s, s
		seq := mustAppend(t, r.client, e).GetSeq()
		got, err := r.client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		a := got.GetArguments().AsMap()
		if got.GetErrorMessage() != s || got.GetResourceUri() != s || a["note"] != s || a["args"].([]any)[0] != s {
			t.Errorf("%q came back as %v", s, got)
		}
	}
}
