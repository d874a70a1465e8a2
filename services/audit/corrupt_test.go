package audit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/badgerstore"
)

// Issue 11, part 7: a store with corrupted bytes started and reported healthy, and the export
// answered 200 with a truncated body and an in-band error line, which a client that checks the
// status (curl -f, a backup script) took for a whole export. Now the start checks the tail of
// the log, reports the corruption (Health, osiris_audit_corrupt), and the export fails in a
// way no client can miss: before any line, by its status; after, by a body that does not end.
func TestCorruptStoreIsReportedAndItsExportFailsUnmistakably(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(t *testing.T, txn *badger.Txn) error
	}{
		{"changed tool", func(t *testing.T, txn *badger.Txn) error {
			return rewrite(t, txn, 15, func(e *auditv1.Event) { e.Tool = "innocent" })
		}},
		{"garbage bytes", func(_ *testing.T, txn *badger.Txn) error {
			return txn.Set(badgerstore.EventKey(15), []byte{0xff, 0xff, 0xff})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := start(t, testConfig(dir))
			appendN(t, r.client, 20)
			if err := r.svc.Health(); err != nil {
				t.Fatalf("healthy log reported corrupt: %v", err)
			}
			if n := scrape(t, r.svc.HTTPAddr(), "osiris_audit_corrupt"); n != "0" {
				t.Fatalf("osiris_audit_corrupt = %s on a healthy log", n)
			}
			if code, err := httpGet("http://" + r.svc.HTTPAddr() + "/readyz"); code != 200 {
				t.Fatalf("/readyz of a healthy log = %d, %v; want 200", code, err)
			}
			r.stop(t)

			editStore(t, dir, func(txn *badger.Txn) error { return tt.edit(t, txn) })

			r = start(t, testConfig(dir))
			if err := r.svc.Health(); err == nil || !strings.Contains(err.Error(), "corrupt at seq 15") {
				t.Fatalf("Health after corruption = %v, want corrupt at seq 15", err)
			}
			if n := scrape(t, r.svc.HTTPAddr(), "osiris_audit_corrupt"); n != "1" {
				t.Fatalf("osiris_audit_corrupt = %s, want 1", n)
			}
			if code, err := httpGet("http://" + r.svc.HTTPAddr() + "/readyz"); code != 503 {
				t.Fatalf("/readyz of a corrupt log = %d, %v; want 503", code, err)
			}
			if n := scrape(t, r.svc.HTTPAddr(), "osiris_audit_verified_seq"); n != "14" {
				t.Fatalf("osiris_audit_verified_seq = %s, want 14", n)
			}

			base := "http://" + r.svc.HTTPAddr() + "/v1/audit/events:export"
			// The whole log: 14 good lines, then the response breaks off.
			resp, err := httpClient().Get(base)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("export of a corrupt log: status %d, body read error %v; want the body to fail", resp.StatusCode, err)
			}
			if strings.Contains(string(body), `"error"`) {
				t.Fatalf("export wrote an in-band error line: %q", body)
			}
			// Only the altered event (by its correlation id): it fails before any line, by status.
			code, err := httpGet(base + "?correlation_id=" + key(0, 14))
			if err != nil || code != http.StatusInternalServerError {
				t.Fatalf("export of the altered event = %d, %v; want 500", code, err)
			}
			// Events before it export whole.
			code, err = httpGet(base + "?correlation_id=" + key(0, 3))
			if err != nil || code != http.StatusOK {
				t.Fatalf("export of an intact event = %d, %v; want 200", code, err)
			}
			// Over gRPC the stream ends with DATA_LOSS.
			stream, err := r.client.ExportEvents(context.Background(), &auditv1.ExportEventsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; err == nil; n++ {
				_, err = stream.Recv()
			}
			if status.Code(err) != codes.DataLoss || n != 15 {
				t.Fatalf("gRPC export: %d messages then %v; want 14 then DATA_LOSS", n-1, err)
			}
		})
	}
}

// scrape returns the value of the first sample of name on the service's /metrics.
func scrape(t *testing.T, httpAddr, name string) string {
	t.Helper()
	resp, err := httpClient().Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	t.Fatalf("no %s on /metrics", name)
	return ""
}

// The check at start reads only the last ledger.TailCheck (1000) events: an event altered
// before them is found by VerifyChain, which then marks the log corrupt the same way.
func TestStartChecksTheTailAndVerifyChainTheWholeLog(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	for i := 0; i < 1100; i += 100 {
		batch := make([]*auditv1.Event, 100)
		for j := range batch {
			batch[j] = event(started, "s", key(1, i+j), "tool", nil)
		}
		if _, err := r.client.AppendBatch(context.Background(), &auditv1.AppendBatchRequest{Events: batch}); err != nil {
			t.Fatal(err)
		}
	}
	r.stop(t)
	editStore(t, dir, func(txn *badger.Txn) error {
		return rewrite(t, txn, 5, func(e *auditv1.Event) { e.Tool = "innocent" })
	})

	r = start(t, testConfig(dir))
	if err := r.svc.Health(); err != nil {
		t.Fatalf("the start checked beyond the last 1000 events: %v", err)
	}
	if n := scrape(t, r.svc.HTTPAddr(), "osiris_audit_verified_seq"); n != "1100" {
		t.Fatalf("osiris_audit_verified_seq = %s after the tail check, want 1100", n)
	}
	v, err := r.client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil || v.GetOk() || v.GetFirstBadSeq() != 5 {
		t.Fatalf("VerifyChain = %v, %v; want broken at 5", v, err)
	}
	if err := r.svc.Health(); err == nil || !strings.Contains(err.Error(), "corrupt at seq 5") {
		t.Fatalf("Health after VerifyChain = %v, want corrupt at seq 5", err)
	}
	if c, s := scrape(t, r.svc.HTTPAddr(), "osiris_audit_corrupt"), scrape(t, r.svc.HTTPAddr(), "osiris_audit_verified_seq"); c != "1" || s != "4" {
		t.Fatalf("osiris_audit_corrupt = %s, verified_seq = %s; want 1 and 4", c, s)
	}
	if code, err := httpGet("http://" + r.svc.HTTPAddr() + "/readyz"); code != 503 {
		t.Fatalf("/readyz after a failed VerifyChain = %d, %v; want 503", code, err)
	}
}
