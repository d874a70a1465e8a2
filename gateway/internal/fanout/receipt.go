package fanout

import (
	"encoding/hex"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// ReceiptKey is the _meta key under which a tools/call reply carries the audit receipts of
// its call: {"started":{"seq":N,"leaf_hash":"<hex>"},"ended":{...}}. With a checkpoint and
// GetInclusionProof(seq), an agent can prove later that the audit log holds both events.
const ReceiptKey = "osiris/audit"

// receipt is one recorded event: its seq and leaf hash, as the audit service answered them.
type receipt struct {
	Seq      uint64 `json:"seq"`
	LeafHash string `json:"leaf_hash,omitempty"`
}

// receipts are a call's two events. A member is absent when its event was not recorded (the
// gateway failing open), so a receipt is never made up.
type receipts struct {
	Started *receipt `json:"started,omitempty"`
	Ended   *receipt `json:"ended,omitempty"`
}

// receiptOf is r for the agent, or nil when there is none: seqs start at 1, so a receipt of
// seq 0 recorded nothing. leaf_hash is left out when the service sent none (a release before
// the Merkle tree, whose hash was a chain hash).
func receiptOf(r *auditv1.AppendResponse) *receipt {
	if r.GetSeq() == 0 {
		return nil
	}
	return &receipt{Seq: r.GetSeq(), LeafHash: hex.EncodeToString(r.GetLeafHash())}
}

// mark puts the correlation id and the call's receipts in reply's _meta.
func mark(reply *wire.Reply, corr string, started, ended *auditv1.AppendResponse) (*wire.Reply, error) {
	marked, err := reply.WithMeta(MetaKey, corr)
	if err != nil {
		return nil, err
	}
	rs := receipts{Started: receiptOf(started), Ended: receiptOf(ended)}
	if rs.Started == nil && rs.Ended == nil {
		return marked, nil
	}
	return marked.WithMeta(ReceiptKey, rs)
}
