package session_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/redact/redacttest"
)

// TestClosedSessionErrorIsMasked closes one session per case of the redaction corpus with
// the case as its error message, then looks for every piece of every secret in GetSession and
// ListSessions over gRPC and REST, in the raw bytes of every file of the data directory, and
// in every version of every Badger key and value. Values and labels are the caller's own
// state and are stored as sent (docs/session.md); this test sets none.
func TestClosedSessionErrorIsMasked(t *testing.T) {
	cases := redacttest.Corpus()
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	ctx := context.Background()
	var ids []string
	for i, c := range cases {
		id := sid("redact", i)
		ids = append(ids, id)
		mustCreate(t, r.client, &sessionv1.CreateSessionRequest{Id: id})
		msg := strings.Join(c.Strings(), "\n")
		if _, err := r.client.CloseSession(ctx, &sessionv1.CloseSessionRequest{Id: id, ErrorType: "e", ErrorMessage: msg}); err != nil {
			t.Fatalf("%s: close: %v", c.Class, err)
		}
	}

	var got []byte
	base := "http://" + r.svc.HTTPAddr()
	for _, id := range ids {
		s, err := r.client.GetSession(ctx, &sessionv1.GetSessionRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		b, err := protojson.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got = append(append(got, b...), '\n')
		redacttest.CheckJSON(t, "REST GET /v1/sessions/"+id, redacttest.GET(t, base+"/v1/sessions/"+id), cases)
	}
	redacttest.CheckJSON(t, "GetSession", got, cases)

	list, err := r.client.ListSessions(ctx, &sessionv1.ListSessionsRequest{IncludeClosed: true, PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetSessions()) != len(cases) {
		t.Fatalf("ListSessions gave %d sessions, want %d", len(list.GetSessions()), len(cases))
	}
	b, err := protojson.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	redacttest.CheckJSON(t, "ListSessions", b, cases)
	redacttest.CheckJSON(t, "REST GET /v1/sessions", redacttest.GET(t, base+"/v1/sessions?includeClosed=true&pageSize=1000"), cases)

	r.stop(t)
	if files := redacttest.CheckDir(t, dir, cases); files == 0 {
		t.Fatalf("no files in %s", dir)
	}
	redacttest.CheckBadger(t, dir, cases)
}
