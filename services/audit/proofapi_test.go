package audit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// An append's receipt carries the event's leaf hash as leaf_hash, and as hash for older
// clients: the hash the event is stored with, which an inclusion proof proves.
func TestAppendReceiptCarriesTheLeafHash(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	ctx := context.Background()
	one := mustAppend(t, r.client, event(started, "s", "c", "t", map[string]any{"a": 1}))
	batch, err := r.client.AppendBatch(ctx, &auditv1.AppendBatchRequest{Events: []*auditv1.Event{
		event(started, "s", "c2", "t", nil), event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, "s", "c2", "t", nil)}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient().Post("http://"+r.svc.HTTPAddr()+"/v1/audit/events", "application/json",
		bytes.NewBufferString(`{"event":{"eventType":"EVENT_TYPE_TOOL_CALL_STARTED","tool":"rest"}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rest struct {
		Seq      string `json:"seq"`
		Hash     string `json:"hash"`
		LeafHash string `json:"leafHash"`
	}
	if err := json.Unmarshal(body, &rest); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("REST append: %d %s", resp.StatusCode, body)
	}
	restHash, _ := base64.StdEncoding.DecodeString(rest.LeafHash)
	receipts := append([]*auditv1.AppendResponse{one}, batch.GetReceipts()...)
	receipts = append(receipts, &auditv1.AppendResponse{Seq: 4, Hash: restHash, LeafHash: restHash})
	if rest.Seq != "4" || rest.Hash != rest.LeafHash {
		t.Fatalf("REST receipt %s", body)
	}
	for i, rc := range receipts {
		e, err := r.client.GetEvent(ctx, &auditv1.GetEventRequest{Seq: rc.GetSeq()})
		if err != nil {
			t.Fatal(err)
		}
		if rc.GetSeq() != uint64(i+1) || len(rc.GetLeafHash()) != 32 || !bytes.Equal(rc.GetLeafHash(), rc.GetHash()) || !bytes.Equal(rc.GetLeafHash(), e.GetHash()) {
			t.Fatalf("receipt %d: seq %d leaf_hash %x hash %x; event %d has hash %x", i, rc.GetSeq(), rc.GetLeafHash(), rc.GetHash(), e.GetSeq(), e.GetHash())
		}
	}
}

// The proof RPCs are served on both ports. What they answer is the ledger's (tested there);
// here: each is routed to the service, over gRPC and REST, and answers something other than
// "no such method".
func TestProofRPCsAreServed(t *testing.T) {
	r := start(t, testConfig(t.TempDir()))
	mustAppend(t, r.client, event(started, "s", "c", "t", nil))
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"GetCheckpoint": func() error {
			_, err := r.client.GetCheckpoint(ctx, &auditv1.GetCheckpointRequest{})
			return err
		},
		"GetCheckpointNote": func() error {
			_, err := r.client.GetCheckpointNote(ctx, &auditv1.GetCheckpointNoteRequest{})
			return err
		},
		"GetInclusionProof": func() error {
			_, err := r.client.GetInclusionProof(ctx, &auditv1.GetInclusionProofRequest{Seq: 1, TreeSize: 1})
			return err
		},
		"GetConsistencyProof": func() error {
			_, err := r.client.GetConsistencyProof(ctx, &auditv1.GetConsistencyProofRequest{FromSize: 1, ToSize: 1})
			return err
		},
		"GetPublicKey": func() error {
			_, err := r.client.GetPublicKey(ctx, &auditv1.GetPublicKeyRequest{})
			return err
		},
	} {
		if code := status.Code(call()); code == codes.Unimplemented || code == codes.Internal {
			t.Errorf("%s: %v", name, call())
		}
	}
	for _, path := range []string{"/v1/audit/checkpoint", "/v1/audit/checkpoint:note", "/v1/audit/proofs/inclusion?seq=1&tree_size=1",
		"/v1/audit/proofs/consistency?from_size=1&to_size=1", "/v1/audit/public-key"} {
		resp, err := httpClient().Get("http://" + r.svc.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// A 404 may be the ledger's (no checkpoint yet); the REST mux's own says only this.
		unrouted := resp.StatusCode == http.StatusNotFound && bytes.Contains(body, []byte(`"message":"Not Found"`))
		if unrouted || resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented || resp.StatusCode == http.StatusInternalServerError {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
}
