package player

import (
	"testing"
	"time"
)

func TestLinkMeter(t *testing.T) {
	m := NewLinkMeter()
	t0 := time.Unix(100, 0)
	if got := CallStatus("In the room as alice.", 65*time.Second, m); got != "In the room as alice. · 1:05" {
		t.Errorf("before figures: %q", got)
	}
	m.Sample(t0, 1000)
	if m.Known {
		t.Errorf("a bitrate from one sample: %+v", m)
	}
	m.Sample(t0.Add(time.Second), 126_000) // 125 000 bytes in 1 s
	if !m.Known || m.Kbps != 1000 {
		t.Errorf("figures %+v, want 1000 kbit/s", m)
	}
	if got, want := CallStatus("x", 42*time.Second, m), "x · 0:42 · 1000 kbit/s sent"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	m.RTT, m.LossPct = 12*time.Millisecond, 100*26/256.0
	if got, want := CallStatus("In the room as alice.", 3725*time.Second, m), "In the room as alice. · 1:02:05 · 1000 kbit/s sent · RTT 12 ms · 10.2 % lost"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	// Counters started over (a new session): the next interval from there.
	m.Sample(t0.Add(2*time.Second), 500)
	m.Sample(t0.Add(3*time.Second), 25_500)
	if m.Kbps != 200 {
		t.Errorf("after counters started over: %+v, want 200 kbit/s", m)
	}
}
