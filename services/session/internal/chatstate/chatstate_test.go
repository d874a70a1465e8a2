package chatstate

import (
	"errors"
	"strings"
	"testing"

	"github.com/osirisplane/osiris/platform/apierr"
)

func TestEveryStateCanFailAndOnlyTheTenAreKnown(t *testing.T) {
	if len(All()) != 10 {
		t.Fatalf("%d states, want 10", len(All()))
	}
	for _, s := range All() {
		if !Known(s) || !Allowed(s, Error) {
			t.Fatalf("%s: known %v, may fail %v", s, Known(s), Allowed(s, Error))
		}
	}
	for _, s := range []State{0, 11, -1} {
		if Known(s) || len(Next(s)) != 0 || Allowed(s, Init) {
			t.Fatalf("state %d is treated as known", s)
		}
	}
}

func TestCheckNamesBothStatesAndTheLegalOnes(t *testing.T) {
	err := Check(Init, Run)
	if !errors.Is(err, apierr.ErrFailedPrecondition) {
		t.Fatalf("Check(INIT, RUN) = %v, want FailedPrecondition", err)
	}
	for _, want := range []string{"CHAT_STATE_INIT", "CHAT_STATE_RUN", "CHAT_STATE_INTENT_CAPTURED, CHAT_STATE_ERROR"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("message %q lacks %q", err, want)
		}
	}
	if err := Check(ValidateOML, Regenerate); err != nil {
		t.Fatal(err)
	}
}
