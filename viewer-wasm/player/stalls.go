package player

import "time"

// Stalls counts the gaps in a stream of events that should come steadily
// (datagrams, ticks of the page's clock, packets handed to a decoder): a
// gap longer than the playout buffer runs it dry, whichever thread on the
// way was not scheduled. The zero value is ready.
type Stalls struct {
	last    time.Time
	Over50  int           // gaps longer than 50 ms
	Over100 int           // of those, longer than 100 ms
	Longest time.Duration // since the last Reset
}

// Mark records an event at t; events out of order count as no gap.
func (s *Stalls) Mark(t time.Time) {
	if !s.last.IsZero() {
		gap := t.Sub(s.last)
		if gap > 50*time.Millisecond {
			s.Over50++
		}
		if gap > 100*time.Millisecond {
			s.Over100++
		}
		s.Longest = max(s.Longest, gap)
	}
	if t.After(s.last) {
		s.last = t
	}
}

// Reset starts counting over from the next event.
func (s *Stalls) Reset() { *s = Stalls{} }
