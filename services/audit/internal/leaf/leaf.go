// Package leaf is a placeholder for the canonical leaf encoding (replaced by the real one).
package leaf

import (
	"encoding/json"

	"github.com/gowebpki/jcs"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/jsonl"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
)

// Hash is the RFC 6962 leaf hash of e's canonical encoding.
func Hash(e *auditv1.Event) ([]byte, error) {
	line, err := jsonl.Line(e)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, err
	}
	delete(m, "hash")
	if len(e.GetPrevHash()) == 0 {
		delete(m, "prev_hash")
	}
	b, _ := json.Marshal(m)
	c, err := jcs.Transform(b)
	if err != nil {
		return nil, err
	}
	return logtree.HashLeaf(c), nil
}
