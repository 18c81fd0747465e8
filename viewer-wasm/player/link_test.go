package player

import (
	"testing"
	"time"
)

func TestLinkMeter(t *testing.T) {
	var m LinkMeter
	t0 := time.Unix(100, 0)
	if got := CallStatus("In the room as alice.", 65*time.Second, m); got != "In the room as alice. · 1:05" {
		t.Errorf("before figures: %q", got)
	}
	m.Sample(t0, 1000, 10, 0, 0)
	if m.Known {
		t.Errorf("figures from one sample: %+v", m)
	}
	// 125 000 bytes in 1 s: 1000 kbit/s; 5 of 100 packets lost.
	m.Sample(t0.Add(time.Second), 126_000, 110, 5, 12*time.Millisecond)
	if !m.Known || m.Kbps != 1000 || m.LossPct != 5 || m.RTT != 12*time.Millisecond {
		t.Errorf("figures %+v", m)
	}
	if got, want := CallStatus("In the room as alice.", 3725*time.Second, m), "In the room as alice. · 1:02:05 · 1000 kbit/s sent · RTT 12 ms · 5.0 % lost"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	// A new session: its counters start again from 0.
	m.Sample(t0.Add(2*time.Second), 500, 3, 0, 0)
	m.Sample(t0.Add(3*time.Second), 25_500, 53, 0, 0)
	if m.Kbps != 200 || m.LossPct != 0 || m.RTT != 0 {
		t.Errorf("after a new session %+v", m)
	}
	// No packet counts from the browser: no loss figure made up, no RTT.
	m.Sample(t0.Add(4*time.Second), 50_500, -1, -1, 0)
	if got, want := CallStatus("x", 0, m), "x · 0:00 · 200 kbit/s sent"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
}
