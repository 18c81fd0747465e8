package player

import (
	"testing"
	"time"
)

func TestLatencyWindow(t *testing.T) {
	var w LatencyWindow
	if s := w.Summary(); s.Frames != 0 || s.P50 != 0 {
		t.Errorf("empty window: %+v", s)
	}
	ms := time.Millisecond
	// 100 frames: glass-to-glass 41..140 ms; 20 ms to arrive, 5 to decode,
	// the rest waiting to be shown.
	for i := range 100 {
		c := t0.Add(time.Duration(i) * 33 * ms)
		w.Add(FrameTimes{Capture: c, Arrived: c.Add(20 * ms), Decoded: c.Add(25 * ms), Shown: c.Add(time.Duration(41+i) * ms)})
	}
	w.Add(FrameTimes{Shown: t0}) // no capture time: left out
	s := w.Summary()
	if s.Frames != 100 || s.Last != 140*ms || s.P50 != 90*ms || s.P95 != 135*ms {
		t.Errorf("summary %+v, want 100 frames, last 140 ms, p50 90 ms, p95 135 ms", s)
	}
	if s.Network != 20*ms || s.Decode != 5*ms || s.Playout != 65*ms {
		t.Errorf("stages: network %v decode %v playout %v, want 20, 5, 65 ms", s.Network, s.Decode, s.Playout)
	}
	// The window keeps the last Size frames only.
	small := LatencyWindow{Size: 3}
	for i := range 5 {
		c := t0.Add(time.Duration(i) * time.Second)
		small.Add(FrameTimes{Capture: c, Shown: c.Add(time.Duration(10*(i+1)) * ms)})
	}
	if s := small.Summary(); s.Frames != 3 || s.Last != 50*ms || s.P50 != 40*ms {
		t.Errorf("small window: %+v, want 3 frames, last 50 ms, p50 40 ms", s)
	}
}
