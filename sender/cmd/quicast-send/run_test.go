package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Bad command lines fail at once with a message that says what to fix.
func TestRunBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.y4m")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-video", "webcam"}, "-video"},
		{[]string{"-size", "big", "-to", "srtp://127.0.0.1:5004", "-sdp", "x"}, "-size"},
		{[]string{"-relay", "https://127.0.0.1:1", "-to", "srtp://127.0.0.1:5004"}, "not both"},
		{[]string{"-to", "srtp://127.0.0.1:5004"}, "-sdp"},
		{[]string{"-relay", "https://127.0.0.1:1"}, "-stream"},
		{[]string{"-to", "srtp://127.0.0.1:5004", "-sdp", "x", "-video", "none", "-audio", "none"}, "nothing to send"},
		{[]string{"-to", "srtp://127.0.0.1:5004", "-sdp", filepath.Join(t.TempDir(), "o.sdp"), "-video", "file:" + missing, "-audio", "none"}, "missing.y4m"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error about %q", tc.args, err, tc.want)
		}
	}
}

func TestRunHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Usage:", "-relay", "file:PATH", "device:", "-srtp-profile"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("-h does not mention %q", want)
		}
	}
}
