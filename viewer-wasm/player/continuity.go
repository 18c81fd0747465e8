package player

import (
	"slices"
	"time"
)

// FreezeThreshold is the gap between two shown frames counted as a freeze
// (a viewer notices a picture that stands still this long at 30 fps).
const FreezeThreshold = 200 * time.Millisecond

// Continuity measures how smoothly video is shown: frames shown against
// the frames the sender captured over the same stretch of media time
// (from the RTP timestamps: the span between the first and last frame
// shown, divided by the frame interval), and the freezes (gaps between
// frames shown, wall time). It starts over at Reset (a new broadcast, or
// the start of a measurement).
//
// The frame interval is taken from the steps between consecutive frames
// received (Received), where they are told: the smaller of their median
// and their mean. A camera's timestamps jitter (a browser's frames 50 ms
// apart come 10 ms apart now and then), and the smallest step — what is
// left without them, over the frames shown — counted such a stream's
// frames five times over; the median is not moved by frames lost on the
// way, but a capture loop running late and catching up (steps of 78, 78,
// 44 ms at 15 fps) puts it above the real interval, where the mean is not.
// Expected is never fewer than the frames shown.
type Continuity struct {
	first, last   int64 // RTP timestamps (90 kHz, unwrapped) of the first and last frame shown
	interval      int64 // the smallest positive step between frames shown
	lastShown     time.Time
	Shown         int
	LongestFreeze time.Duration
	Freezes       int // gaps over FreezeThreshold

	lastRecv int64                // RTP timestamp of the last frame received
	received bool                 // lastRecv is one
	steps    [intervalSteps]int64 // the last steps between frames received, a ring
	nSteps   int                  // steps recorded in all
}

// intervalSteps is how many steps between frames received the interval is
// the median of.
const intervalSteps = 31

// Reset starts a new measurement.
func (c *Continuity) Reset() { *c = Continuity{} }

// Frame records a frame with unwrapped RTP timestamp ts shown at now.
func (c *Continuity) Frame(ts int64, now time.Time) {
	if c.Shown == 0 {
		c.first, c.last, c.lastShown, c.Shown = ts, ts, now, 1
		return
	}
	if d := ts - c.last; d > 0 && (c.interval == 0 || d < c.interval) {
		c.interval = d
	}
	if ts > c.last {
		c.last = ts
	}
	if gap := now.Sub(c.lastShown); gap > c.LongestFreeze {
		c.LongestFreeze = gap
	}
	if now.Sub(c.lastShown) > FreezeThreshold {
		c.Freezes++
	}
	c.lastShown = now
	c.Shown++
}

// Received records a frame received with unwrapped RTP timestamp ts (90
// kHz), shown or not: in the order received, every frame the player got.
func (c *Continuity) Received(ts int64) {
	if d := ts - c.lastRecv; c.received && d > 0 {
		c.steps[c.nSteps%intervalSteps] = d
		c.nSteps++
	}
	c.lastRecv, c.received = ts, true
}

// Interval returns the frame interval in RTP ticks: once eight steps
// between frames received are known, the smaller of the median and the
// mean of the last ones; else the smallest step between frames shown; 0
// while unknown.
func (c *Continuity) Interval() int64 {
	n := min(c.nSteps, intervalSteps)
	if n < 8 {
		return c.interval
	}
	w := c.steps // a copy, sorted: the ring keeps its order
	var sum int64
	for _, s := range w[:n] {
		sum += s
	}
	slices.Sort(w[:n])
	return min(w[n/2], sum/int64(n))
}

// Expected returns how many frames the sender captured between the first
// and the last frame shown, both included (0 before two frames): the span
// of their RTP timestamps over the interval, at least the frames shown.
func (c *Continuity) Expected() int {
	iv := c.Interval()
	if iv == 0 || c.Shown < 2 {
		return c.Shown
	}
	return max(int((c.last-c.first+iv/2)/iv)+1, c.Shown)
}
