package audit_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/audit/internal/badgerstore"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
)

func appendN(t *testing.T, c auditv1.AuditServiceClient, n int) []*auditv1.AppendResponse {
	t.Helper()
	var out []*auditv1.AppendResponse
	for i := range n {
		out = append(out, mustAppend(t, c, event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, "s", key(0, i), "tool", map[string]any{"i": i})))
	}
	return out
}

// editStore changes the stopped service's Badger files directly, as an attacker with disk
// access would.
func editStore(t *testing.T, dir string, edit func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badgerdb.Open(dir, badgerdb.Options{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedEventIsReportedByVerifyChain(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, txn *badger.Txn) error
		bad  uint64
	}{
		{"changed tool", func(t *testing.T, txn *badger.Txn) error {
			return rewrite(t, txn, 5, func(e *auditv1.Event) { e.Tool = "innocent" })
		}, 5},
		{"changed arguments, hash recomputed by nobody", func(t *testing.T, txn *badger.Txn) error {
			return rewrite(t, txn, 7, func(e *auditv1.Event) { e.Arguments.Fields["i"].Kind = nil })
		}, 7},
		{"deleted event", func(_ *testing.T, txn *badger.Txn) error {
			return txn.Delete(badgerstore.EventKey(4))
		}, 4},
		{"garbage bytes", func(_ *testing.T, txn *badger.Txn) error {
			return txn.Set(badgerstore.EventKey(9), []byte{0xff, 0xff, 0xff})
		}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := start(t, testConfig(dir))
			appendN(t, r.client, 10)
			mustVerify(t, r.client, 10)
			r.stop(t)

			editStore(t, dir, func(txn *badger.Txn) error { return tt.edit(t, txn) })

			r = start(t, testConfig(dir))
			v, err := r.client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if v.GetOk() || v.GetFirstBadSeq() != tt.bad || v.GetChecked() != tt.bad-1 {
				t.Fatalf("verify = ok %v first bad %d checked %d (%s); want broken at %d", v.GetOk(), v.GetFirstBadSeq(), v.GetChecked(), v.GetReason(), tt.bad)
			}
		})
	}
}

func rewrite(t *testing.T, txn *badger.Txn, seq uint64, change func(*auditv1.Event)) error {
	item, err := txn.Get(badgerstore.EventKey(seq))
	if err != nil {
		return err
	}
	var en ledger.Entry
	if err := item.Value(func(v []byte) error {
		var err error
		en, err = badgerstore.DecodeEntry(append([]byte(nil), v...))
		return err
	}); err != nil {
		return err
	}
	change(en.Event) // its stored leaf hash and tree nodes stay as they were
	b, err := badgerstore.EncodeEntry(en)
	if err != nil {
		return err
	}
	return txn.Set(badgerstore.EventKey(seq), b)
}

// Secrets of every shape the reference names, in maps, lists and free text. None of them
// may reach the data directory, in any file, in any form Badger keeps.
func TestRedactedSecretsNeverReachTheDataDir(t *testing.T) {
	secrets := []string{
		"hunter2-correct-horse",               // under "password"
		"sk-live-0123456789abcdef",            // under "api_key"
		"tok-in-a-list-xyz",                   // list under "tokens"
		"AKIAIOSFODNN7EXAMPLE",                // AWS access key id, anywhere
		"ghp_" + "abcdefghijklmnopqrstuvwx12", // GitHub token, in a list under a plain key
		"xoxb-" + "123456789012-abcdefghij",   // Slack token in free text
		"Zq8mT3kR9vW2xY7pL4nB6cD1fG5hJ0sA",    // 32 mixed-case alphanumerics
		"client-secret-value-42",              // nested map, "client_secret"
		"s3cr3t-in-error-message-AKIAABCDEFGHIJKLMNOP",
	}
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	args := map[string]any{
		"password": secrets[0],
		"connection": map[string]any{
			"api_key": secrets[1],
			"oauth":   map[string]any{"client_secret": secrets[7]},
			"hosts":   []any{"db1", map[string]any{"tokens": []any{secrets[2]}}},
		},
		"note":   "aws " + secrets[3] + " and " + secrets[6],
		"items":  []any{"ok", secrets[4], []any{"slack: " + secrets[5]}},
		"env":    "${DB_PASSWORD}",
		"budget": map[string]any{"max_tokens": 100},
	}
	e := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, "s", "c", "connections_doctor", args)
	e.ErrorMessage = "login failed with AKIAABCDEFGHIJKLMNOP"
	mustAppend(t, r.client, e)
	for range 50 { // enough traffic for Badger to write more than one file kind
		mustAppend(t, r.client, event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, "s", "c", "t", map[string]any{"token": secrets[0]}))
	}
	got, err := r.client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := got.GetArguments().AsMap()
	if a["env"] != "${DB_PASSWORD}" || a["budget"].(map[string]any)["max_tokens"] != 100.0 {
		t.Fatalf("redaction removed what it must keep: %v", a)
	}
	r.stop(t)

	var files int
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range append(secrets, "AKIAABCDEFGHIJKLMNOP") {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %q found in %s", s, path)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk data dir: %v (%d files)", err, files)
	}
	// Files may be compressed, so also read every version of every value through Badger.
	db, err := badgerdb.Open(dir, badgerdb.Options{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.AllVersions = true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			for _, s := range secrets {
				if bytes.Contains(v, []byte(s)) || bytes.Contains(it.Item().Key(), []byte(s)) {
					t.Errorf("secret %q stored under key %q", s, it.Item().Key())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRestartContinuesSequenceAndTree(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	first := appendN(t, r.client, 5)
	r.stop(t)

	r = start(t, testConfig(dir))
	next := mustAppend(t, r.client, event(auditv1.EventType_EVENT_TYPE_SESSION_CLOSED, "s", "", "", nil))
	if next.GetSeq() != 6 {
		t.Fatalf("seq after restart = %d, want 6", next.GetSeq())
	}
	e, err := r.client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: 6})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.GetHash(), next.GetHash()) || len(e.GetPrevHash()) != 0 {
		t.Fatalf("seq 6: hash %x prev_hash %x; want the receipt's leaf hash %x and no prev_hash", e.GetHash(), e.GetPrevHash(), next.GetHash())
	}
	// The tree after the restart is the tree of all six leaves, the first five from before.
	want := logtree.NewVerifier()
	for _, rc := range append(first, next) {
		if err := want.Append(rc.GetHash()); err != nil {
			t.Fatal(err)
		}
	}
	root, _ := want.Root()
	if v := mustVerify(t, r.client, 6); !bytes.Equal(v.GetHeadHash(), root) {
		t.Fatalf("root after restart %x, want %x", v.GetHeadHash(), root)
	}
}
