package player

import "time"

// SkewMeter measures A/V skew from what is seen and heard, with the test
// source: every second it flashes white and beeps at the same instant. The
// player reports when a flash is drawn and when a beep's onset reaches the
// loudspeaker; a flash and a beep less than Pair apart are one instant of
// the sender's, and their distance is the skew as a person would notice it
// — output latency, drift and skipped audio included, which a computation
// from the clocks can miss. Positive: audio leads (heard before seen), as
// ATSC IS-191 counts it. The zero value keeps the last 60 pairs.
type SkewMeter struct {
	Pair  time.Duration // zero: 400 ms
	Size  int           // zero: 60
	flash time.Time
	beep  time.Time
	skews ring[time.Duration]
	last  time.Duration
	pairs int

	Flashes, Beeps int // events seen, paired or not
}

func (m *SkewMeter) pair() time.Duration {
	if m.Pair <= 0 {
		return 400 * time.Millisecond
	}
	return m.Pair
}

// Reset forgets the pairs measured so far (a measurement starts); the
// event counts stay.
func (m *SkewMeter) Reset() {
	m.skews.reset()
	m.last, m.pairs = 0, 0
}

// Flash records that a flash was drawn at t.
func (m *SkewMeter) Flash(t time.Time) {
	m.Flashes++
	m.flash = t
	m.match()
}

// Beep records that a beep's onset was heard at t.
func (m *SkewMeter) Beep(t time.Time) {
	m.Beeps++
	m.beep = t
	m.match()
}

func (m *SkewMeter) match() {
	if m.flash.IsZero() || m.beep.IsZero() {
		return
	}
	d := m.flash.Sub(m.beep)
	if d.Abs() > m.pair() {
		// Not one instant: keep the later event, it may pair with the next.
		if m.flash.Before(m.beep) {
			m.flash = time.Time{}
		} else {
			m.beep = time.Time{}
		}
		return
	}
	m.flash, m.beep = time.Time{}, time.Time{}
	m.last = d
	m.pairs++
	size := m.Size
	if size <= 0 {
		size = 60
	}
	m.skews.add(d, size)
}

// Skew returns the last pair's skew, the 95th percentile of the skews'
// magnitudes in the window, and how many pairs were measured in all.
func (m *SkewMeter) Skew() (last, p95abs time.Duration, pairs int) {
	abs := make([]time.Duration, len(m.skews.all))
	for i, d := range m.skews.all {
		abs[i] = d.Abs()
	}
	return m.last, percentile(abs, 95), m.pairs
}
