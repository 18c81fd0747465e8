package player

import (
	"testing"
	"time"
)

func TestContinuity(t *testing.T) {
	var c Continuity
	t0 := time.Unix(100, 0)
	frame := 33333 * time.Microsecond
	shown := 0
	for i := range 90 { // three seconds at 30 fps
		if i >= 40 && i < 49 { // nine frames lost: a 333 ms freeze
			continue
		}
		if i == 70 { // one frame dropped late: 67 ms, not a freeze
			continue
		}
		c.Frame(int64(1000+3000*i), t0.Add(time.Duration(i)*frame))
		shown++
	}
	if c.Shown != shown || c.Expected() != 90 {
		t.Errorf("shown %d of %d expected, want %d of 90", c.Shown, c.Expected(), shown)
	}
	if c.Freezes != 1 || c.LongestFreeze != 10*frame {
		t.Errorf("freezes %d, longest %v; want 1 of %v", c.Freezes, c.LongestFreeze, 10*frame)
	}
	c.Reset()
	if c.Shown != 0 || c.Expected() != 0 || c.LongestFreeze != 0 {
		t.Errorf("after Reset: %+v", c)
	}
}

// TestContinuityJitteryCamera: a browser camera's frames, 50 ms apart but
// now and then 10 ms apart (and the next one 90), only every third one
// shown. The frames captured are counted from the steps between frames
// received, not from the smallest step.
func TestContinuityJitteryCamera(t *testing.T) {
	var c Continuity
	t0 := time.Unix(100, 0)
	ts := int64(5000)
	n := 0
	for i := range 200 {
		step := int64(4500) // 50 ms at 90 kHz
		switch i % 20 {
		case 7:
			step = 900 // 10 ms
		case 8:
			step = 8100 // 90 ms: back on the beat
		}
		ts += step
		c.Received(ts)
		if i%3 == 0 {
			c.Frame(ts, t0.Add(time.Duration(i)*50*time.Millisecond))
		}
		n++
	}
	// From the first shown (i=0) to the last (i=198): 199 frames.
	if got := c.Expected(); got < 195 || got > 203 {
		t.Errorf("expected %d frames, want 199 (interval %d ticks)", got, c.Interval())
	}
	if c.Interval() != 4500 {
		t.Errorf("interval %d ticks, want 4500", c.Interval())
	}
	// Without frames received, the smallest step between frames shown.
	var d Continuity
	for i := range 10 {
		d.Frame(int64(3000*i), t0.Add(time.Duration(i)*33*time.Millisecond))
	}
	if d.Interval() != 3000 || d.Expected() != 10 {
		t.Errorf("interval %d, expected %d; want 3000, 10", d.Interval(), d.Expected())
	}
}

// TestContinuityLateCaptureLoop: a capture loop at 15 fps that runs late
// and catches up (steps of 78, 78 and 44 ms: the median above the real
// 66.7 ms), every frame received and shown. The frames captured are every
// frame, not fewer than those shown.
func TestContinuityLateCaptureLoop(t *testing.T) {
	var c Continuity
	t0 := time.Unix(100, 0)
	ts := int64(0)
	for i := range 31 { // 30 steps: ten rounds of three
		ts += []int64{7000, 7000, 4000}[i%3] // 90 kHz: mean 6000, median 7000
		c.Received(ts)
		c.Frame(ts, t0.Add(time.Duration(ts)*time.Second/90000))
	}
	if c.Interval() != 6000 || c.Expected() != 31 {
		t.Errorf("interval %d ticks, %d expected; want 6000, 31", c.Interval(), c.Expected())
	}
}
