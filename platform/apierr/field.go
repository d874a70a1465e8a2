package apierr

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// fieldError is an error caused by one field of a request.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// AtField marks err as caused by the request field at path ("events[3]"). err keeps its kind
// and message; ToStatus adds the path as a google.rpc.BadRequest field violation, so a client
// can act on it (drop event 3, resend the others) without parsing the message.
func AtField(path string, err error) error {
	if err == nil {
		return nil
	}
	return &fieldError{field: path, err: err}
}

// withField adds err's field path, if it has one, to st as BadRequest details.
func withField(st *status.Status, err error) *status.Status {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return st
	}
	br := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.field, Description: fe.err.Error()}}}
	if d, err := st.WithDetails(br); err == nil {
		return d
	}
	return st
}

// FieldViolations returns the field violations of a status error's BadRequest details (none
// when it has none): what a client reads to learn which field of its request was refused.
func FieldViolations(err error) []*errdetails.BadRequest_FieldViolation {
	var out []*errdetails.BadRequest_FieldViolation
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			out = append(out, br.GetFieldViolations()...)
		}
	}
	return out
}
