package main

import (
	"errors"
	"strings"
	"testing"
)

// TestWindowError: a window that cannot open names the X server too when
// Gio's report is only of Wayland's failure, and leaves other errors be.
func TestWindowError(t *testing.T) {
	wl := errors.New("wayland: wl_display_connect failed: connection refused")
	if got := windowError(wl, ":1"); !strings.HasPrefix(got, wl.Error()) || !strings.Contains(got, "DISPLAY=:1") {
		t.Errorf("with DISPLAY: %q", got)
	}
	if got := windowError(wl, ""); got != wl.Error() {
		t.Errorf("without DISPLAY: %q", got)
	}
	x := errors.New("x11: XOpenDisplay failed")
	if got := windowError(x, ":1"); got != x.Error() {
		t.Errorf("an X11 error: %q", got)
	}
}
