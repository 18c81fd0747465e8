package protocol

import "time"

// Backoff spaces reconnection attempts, of a sender to its relay and of a
// viewer to its session: attempt n waits Min·2^(n-1), at most Max, spread
// by ±Jitter (a fraction) so that the many clients of a restarted relay do
// not all come back in the same instant. The zero value means 500 ms, 3 s
// and 0.2: short enough that a relay that is back has its broadcasts and
// viewers back within seconds.
type Backoff struct {
	Min, Max time.Duration
	Jitter   float64
}

// Delay returns the wait before attempt (from 1); r in [0, 1) picks the
// jitter.
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	if b.Min <= 0 {
		b.Min = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 3 * time.Second
	}
	if b.Jitter <= 0 || b.Jitter >= 1 {
		b.Jitter = 0.2
	}
	d := b.Min
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return time.Duration(float64(d) * (1 + b.Jitter*(2*r-1)))
}
