package grpcapi

import (
	"context"

	"google.golang.org/genproto/googleapis/api/httpbody"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

// proofLog is what the proof RPCs need of the ledger: the tree's checkpoints and proofs. It
// checks every argument (sizes past the head, from > to, seq 0), so these handlers only move
// fields.
type proofLog interface {
	Checkpoint(ctx context.Context, size uint64) (ledger.Checkpoint, error)
	InclusionProof(ctx context.Context, seq, treeSize uint64) (ledger.Proof, error)
	ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error)
	VerifierKey() string
}

// notePlainText is the content type of a checkpoint note served alone: C2SP signed notes are
// UTF-8 text, and witnesses fetch them as text/plain.
const notePlainText = "text/plain; charset=utf-8"

// GetCheckpoint implements AuditService.GetCheckpoint.
func (s *Server) GetCheckpoint(ctx context.Context, req *auditv1.GetCheckpointRequest) (*auditv1.GetCheckpointResponse, error) {
	cp, err := s.proofs.Checkpoint(ctx, req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	return &auditv1.GetCheckpointResponse{Note: cp.Note, TreeSize: cp.Size, RootHash: cp.Root}, nil
}

// GetCheckpointNote implements AuditService.GetCheckpointNote.
func (s *Server) GetCheckpointNote(ctx context.Context, req *auditv1.GetCheckpointNoteRequest) (*httpbody.HttpBody, error) {
	cp, err := s.proofs.Checkpoint(ctx, req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	return &httpbody.HttpBody{ContentType: notePlainText, Data: cp.Note}, nil
}

// GetInclusionProof implements AuditService.GetInclusionProof.
func (s *Server) GetInclusionProof(ctx context.Context, req *auditv1.GetInclusionProofRequest) (*auditv1.GetInclusionProofResponse, error) {
	p, err := s.proofs.InclusionProof(ctx, req.GetSeq(), req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	return &auditv1.GetInclusionProofResponse{Hashes: p.Hashes, LeafIndex: p.LeafIndex, TreeSize: p.TreeSize}, nil
}

// GetConsistencyProof implements AuditService.GetConsistencyProof.
func (s *Server) GetConsistencyProof(ctx context.Context, req *auditv1.GetConsistencyProofRequest) (*auditv1.GetConsistencyProofResponse, error) {
	hashes, err := s.proofs.ConsistencyProof(ctx, req.GetFromSize(), req.GetToSize())
	if err != nil {
		return nil, err
	}
	return &auditv1.GetConsistencyProofResponse{Hashes: hashes}, nil
}

// GetPublicKey implements AuditService.GetPublicKey.
func (s *Server) GetPublicKey(context.Context, *auditv1.GetPublicKeyRequest) (*auditv1.GetPublicKeyResponse, error) {
	return &auditv1.GetPublicKeyResponse{VerifierKey: s.proofs.VerifierKey()}, nil
}
