package protocol

import (
	"testing"
	"time"
)

// A source at 50 packets/s whose packets each arrive 0 or 10 ms late in
// turn: every transit difference is 10 ms, and the estimate converges to
// it (RFC 3550 A.8).
func TestJitter(t *testing.T) {
	j := Jitter{ClockRate: 48000}
	t0 := time.Unix(100, 0)
	for i := range 500 {
		late := time.Duration(i%2) * 10 * time.Millisecond
		j.Update(t0.Add(time.Duration(i)*20*time.Millisecond+late), uint32(i*960))
	}
	if d := j.Duration(); d < 9900*time.Microsecond || d > 10*time.Millisecond {
		t.Errorf("jitter %v, want 10ms", d)
	}
	if j.Units() < 475 || j.Units() > 480 {
		t.Errorf("jitter %d units, want 480", j.Units())
	}
	// A timestamp jump (a new source) does not count.
	before := j.Units()
	j.Update(t0.Add(10*time.Second+10*time.Millisecond), 1<<31)
	if j.Units() != before {
		t.Errorf("a jump moved the estimate from %d to %d", before, j.Units())
	}
}

func TestReceiverStats(t *testing.T) {
	s := ReceiverStats{Jitter: Jitter{ClockRate: 90000}}
	t0 := time.Unix(100, 0)
	// 65530..65535, 0..9 with 3 and 4 lost: 16 expected, 14 received.
	n := 0
	for seq := uint16(65530); seq != 10; seq++ {
		if seq == 3 || seq == 4 {
			continue
		}
		s.Update(seq, uint32(n)*3000, t0.Add(time.Duration(n)*33*time.Millisecond))
		n++
	}
	sr := NTPTime(t0)
	s.SenderReport(sr, t0.Add(time.Second))
	r := s.Report(t0.Add(time.Second + 250*time.Millisecond))
	if r.ExtendedHighestSeq != 1<<16+9 || r.TotalLost != 2 || r.FractionLost != 2*256/16 {
		t.Errorf("report %+v: want highest 65545, 2 lost, fraction 32/256", r)
	}
	if r.LastSenderReport != uint32(sr>>16) || r.Delay != 65536/4 {
		t.Errorf("LSR %x DLSR %d, want %x and 16384 (250 ms)", r.LastSenderReport, r.Delay, uint32(sr>>16))
	}
	// The next interval starts from here: nothing new, nothing lost.
	if r := s.Report(t0.Add(2 * time.Second)); r.FractionLost != 0 || r.TotalLost != 2 {
		t.Errorf("next report %+v: want no new loss", r)
	}
}
