// Package verify checks an audit export offline: that a signed checkpoint is valid, that every
// exported event is intact, and that the events reproduce the checkpoint's Merkle root. It is
// the library behind `osiris-audit verify`; tools/audit-verify/verify.mjs does the same checks
// in JavaScript.
package verify
