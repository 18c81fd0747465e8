package player

import (
	"testing"
	"time"
)

func TestSkewMeter(t *testing.T) {
	var m SkewMeter
	ms := time.Millisecond
	sec := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	// Second 1: the beep is heard 12 ms before the flash is seen.
	m.Beep(sec(1))
	m.Flash(sec(1).Add(12 * ms))
	// Second 2: the flash first, the beep 30 ms later.
	m.Flash(sec(2))
	m.Beep(sec(2).Add(30 * ms))
	// Second 3: a beep without its flash (the frame was dropped), then the
	// next second's pair.
	m.Beep(sec(3))
	m.Flash(sec(4).Add(5 * ms))
	m.Beep(sec(4))
	last, p95, pairs := m.Skew()
	if pairs != 3 || last != 5*ms || p95 != 30*ms {
		t.Errorf("skew last %v p95 %v over %d pairs, want 5 ms, 30 ms, 3", last, p95, pairs)
	}
	var none SkewMeter
	if l, p, n := none.Skew(); l != 0 || p != 0 || n != 0 {
		t.Errorf("no pairs: %v %v %d", l, p, n)
	}
}

func TestSkewMeterReset(t *testing.T) {
	var m SkewMeter
	t0 := time.Unix(50, 0)
	m.Flash(t0)
	m.Beep(t0.Add(300 * time.Millisecond)) // a start-up pair, far off
	m.Reset()
	m.Flash(t0.Add(time.Second))
	m.Beep(t0.Add(time.Second + 5*time.Millisecond))
	last, p95, pairs := m.Skew()
	if pairs != 1 || last != -5*time.Millisecond || p95 != 5*time.Millisecond {
		t.Errorf("after Reset: last %v p95 %v pairs %d, want -5ms 5ms 1", last, p95, pairs)
	}
}
