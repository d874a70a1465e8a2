// Package signing holds the audit log's checkpoint key: the Ed25519 key of a C2SP signed note
// (golang.org/x/mod/sumdb/note), whose name is the checkpoints' origin. It writes key pairs
// (osiris-audit keygen), reads the private key file, and signs checkpoints.
package signing
