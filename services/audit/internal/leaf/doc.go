// Package leaf defines an audit event's leaf in the log's Merkle tree: the event's canonical
// bytes and their RFC 6962 leaf hash.
//
// The leaf object of an event is the JSON object the export writes for it, minus its "hash"
// member: the original Osiris field names (see docs/audit.md, "Verifying the log offline").
// Its canonical bytes are the RFC 8785 (JCS) serialization of that object, so a verifier in
// any language recomputes them from an exported line: keys sorted by UTF-16 code units, no
// whitespace, strings escaped only where JSON requires it, numbers in ECMAScript form. The
// leaf hash is SHA-256(0x00 || canonical bytes), the RFC 6962 leaf hash; the leaf of seq n has
// index n-1.
//
// The encoder writes JCS directly from the protobuf event, without a generic JSON round trip,
// because it runs once per appended event. Its output is checked against an independent JCS
// implementation (github.com/gowebpki/jcs) in the tests and in testdata/vectors.json, which
// the JavaScript verifier in tools/audit-verify checks too.
package leaf
