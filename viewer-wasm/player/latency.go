package player

import (
	"slices"
	"time"
)

// FrameTimes are the moments in one video frame's life, as the viewer sees
// them. Capture is the sender's wall clock at the frame's sampling instant:
// the frame's RTP timestamp mapped through the sender reports (RFC 3550
// §6.4.1), which quicast-send takes from its capture clock. On one machine
// it is the viewer's clock too; across machines the difference of the two
// clocks is in every figure (NTP keeps it to a few ms).
type FrameTimes struct {
	Capture time.Time // sampled at the sender
	Arrived time.Time // its last packet reached the player
	Decoded time.Time // the decoder handed it over
	Shown   time.Time // drawn on the canvas (the compositor shows it at the next refresh)
}

// LatencyWindow keeps the glass-to-glass latency of the last frames shown
// and the stages it is made of. The zero value holds 300 frames (10 s at
// 30 fps).
type LatencyWindow struct {
	Size   int
	frames ring[FrameTimes]
	last   FrameTimes
}

// Reset empties the window (a measurement starts).
func (w *LatencyWindow) Reset() { w.frames.reset(); w.last = FrameTimes{} }

// Add records a frame shown; frames without a capture time are left out.
func (w *LatencyWindow) Add(f FrameTimes) {
	if f.Capture.IsZero() || f.Shown.IsZero() {
		return
	}
	w.last = f
	size := w.Size
	if size <= 0 {
		size = 300
	}
	w.frames.add(f, size)
}

// Latency summarises the window: glass-to-glass (capture to shown) of the
// last frame, its median and 95th percentile, and the median of each
// stage: capture to arrival (encode, pacing, network, relay), arrival to
// decoded, decoded to shown (waiting for the audio clock, drawing).
type Latency struct {
	Last, P50, P95           time.Duration
	Network, Decode, Playout time.Duration
	Frames                   int
}

// Summary computes the figures of the frames in the window.
func (w *LatencyWindow) Summary() Latency {
	n := len(w.frames.all)
	if n == 0 {
		return Latency{}
	}
	total := make([]time.Duration, 0, n)
	var net, dec, play []time.Duration
	for _, f := range w.frames.all {
		total = append(total, f.Shown.Sub(f.Capture))
		if !f.Arrived.IsZero() {
			net = append(net, f.Arrived.Sub(f.Capture))
			if !f.Decoded.IsZero() {
				dec = append(dec, f.Decoded.Sub(f.Arrived))
				play = append(play, f.Shown.Sub(f.Decoded))
			}
		}
	}
	return Latency{Last: w.last.Shown.Sub(w.last.Capture), P50: percentile(total, 50), P95: percentile(total, 95),
		Network: percentile(net, 50), Decode: percentile(dec, 50), Playout: percentile(play, 50), Frames: n}
}

// percentile returns the p-th percentile (nearest rank) of ds; it sorts ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100
	return ds[max(0, min(i, len(ds))-1)]
}
