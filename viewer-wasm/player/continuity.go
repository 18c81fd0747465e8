package player

import "time"

// FreezeThreshold is the gap between two shown frames counted as a freeze
// (a viewer notices a picture that stands still this long at 30 fps).
const FreezeThreshold = 200 * time.Millisecond

// Continuity measures how smoothly video is shown: frames shown against
// the frames the sender captured over the same stretch of media time
// (from the RTP timestamps: the span between the first and last frame
// shown, divided by the frame interval), and the freezes (gaps between
// frames shown, wall time). It starts over at Reset (a new broadcast, or
// the start of a measurement).
type Continuity struct {
	first, last   int64 // RTP timestamps (90 kHz, unwrapped) of the first and last frame shown
	interval      int64 // the smallest positive step between frames seen: the frame interval
	lastShown     time.Time
	Shown         int
	LongestFreeze time.Duration
	Freezes       int // gaps over FreezeThreshold
}

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

// Expected returns how many frames the sender captured between the first
// and the last frame shown, both included (0 before two frames).
func (c *Continuity) Expected() int {
	if c.interval == 0 {
		return c.Shown
	}
	return int((c.last-c.first+c.interval/2)/c.interval) + 1
}
