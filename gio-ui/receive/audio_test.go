package receive

import (
	"math"
	"testing"
	"time"
)

func ramp(from, n int) []int16 {
	s := make([]int16, n*Channels)
	for i := range n {
		s[2*i], s[2*i+1] = int16(from+i), int16(-(from + i))
	}
	return s
}

// A Playout starts once it holds its target, plays in order, plays
// silence (one gap, then waits for the target again) when it runs dry,
// and drops the oldest sound beyond target + slack.
func TestPlayout(t *testing.T) {
	p := NewPlayout()
	target := samples(PlayoutTarget) / Channels // sample frames
	out := make([]int16, 480*Channels)

	p.Write(ramp(0, target-1), time.Time{})
	p.Read(out)
	if out[0] != 0 || out[len(out)-2] != 0 || p.Stats().Underrun != 0 {
		t.Fatalf("played before the target was reached: %v…, %+v", out[:4], p.Stats())
	}
	p.Write(ramp(target-1, 1), time.Time{})
	p.Read(out)
	if l, want := p.Level(), 20*math.Log10(479.0/32768); math.Abs(l-want) > 0.01 {
		t.Errorf("level %.2f dBFS, want %.2f (the read's peak)", l, want)
	}
	if out[0] != 0 || out[2] != 1 || out[3] != -1 || out[len(out)-2] != 479 {
		t.Fatalf("first read %v…%v", out[:4], out[len(out)-2:])
	}
	// Dry: what is left, then silence, counted.
	rest := target - 480
	big := make([]int16, (rest+100)*Channels)
	p.Read(big)
	if big[0] != 480 || big[2*(rest-1)] != int16(target-1) || big[2*rest] != 0 {
		t.Fatalf("draining: %v… at the end %v", big[:2], big[2*(rest-1):2*rest+2])
	}
	if s := p.Stats(); s.Underrun != 100 {
		t.Errorf("underrun %d sample frames, want 100", s.Underrun)
	}
	// Too much: the oldest goes, the delay stays bounded.
	p.Write(ramp(0, SampleRate/2), time.Time{})
	s := p.Stats()
	if max := PlayoutTarget + playoutSlack; s.Buffered > max || s.Trimmed == 0 {
		t.Errorf("after half a second at once: %v buffered (at most %v), %d trimmed", s.Buffered, max, s.Trimmed)
	}
	p.Read(out)
	if want := int16(SampleRate/2 - samples(PlayoutTarget+playoutSlack)/Channels); out[0] != want {
		t.Errorf("after trimming plays from %d, want %d", out[0], want)
	}
}

// The speaker pulls sound on the device's clock (miniaudio's null backend
// here: no sound card on a test machine).
func TestSpeakerNull(t *testing.T) {
	p := NewPlayout()
	sp, err := OpenSpeaker(p, BackendNull)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	p.Write(ramp(0, SampleRate/10), time.Time{})
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for p.Stats().Read < SampleRate/10 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the device took %+v in 10 s", p.Stats())
		}
	}
	if err := sp.Close(); err != nil {
		t.Error(err)
	}
}

// The Playout knows how long ago the sound it plays was captured: from the
// capture time of each write, counted on in samples.
func TestPlayoutDelay(t *testing.T) {
	p := NewPlayout()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	p.now = func() time.Time { return now }
	for i := range 5 { // five 10 ms packets, captured 10 ms apart
		p.Write(ramp(0, 480), t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	if p.Delay() != 0 {
		t.Fatalf("delay %v before anything was read", p.Delay())
	}
	out := make([]int16, 240*Channels) // 5 ms
	now = t0.Add(80 * time.Millisecond)
	p.Read(out) // the first sample, captured at t0
	if d := p.Delay(); d != 80*time.Millisecond {
		t.Errorf("delay %v, want 80ms", d)
	}
	now = now.Add(5 * time.Millisecond)
	p.Read(out) // 5 ms into the first packet
	if d := p.Delay(); d != 80*time.Millisecond {
		t.Errorf("delay %v, want 80ms", d)
	}
	now = now.Add(20 * time.Millisecond)
	p.Read(out)
	p.Read(out) // from 15 ms in: captured at t0+15ms, read at t0+105ms
	if d := p.Delay(); d != 90*time.Millisecond {
		t.Errorf("delay %v, want 90ms", d)
	}
	// Concealment (no capture time) in between: counted on from the mark before.
	p.Write(ramp(0, 480), time.Time{})
	p.Write(ramp(0, 480), t0.Add(60*time.Millisecond))
	for range 4 {
		p.Read(out)
	}
	// The last read from 35 ms in: captured at t0+35ms.
	if d := p.Delay(); d != 70*time.Millisecond {
		t.Errorf("delay %v, want 70ms", d)
	}
}

// Sound that piled up above the target and is never needed (arrivals
// steady again) is dropped after half a second: the delay comes back near
// the target.
func TestPlayoutComesBackToTarget(t *testing.T) {
	p := NewPlayout()
	p.Write(ramp(0, 90*48), time.Time{}) // 90 ms at once
	out := make([]int16, 480*Channels)
	for range 60 { // 0.6 s of 10 ms in, 10 ms out
		p.Read(out)
		p.Write(ramp(0, 480), time.Time{})
	}
	s := p.Stats()
	if s.Buffered > PlayoutTarget+trimMargin+10*time.Millisecond || s.Trimmed == 0 || s.Underrun != 0 {
		t.Errorf("after 0.6 s steady: %v buffered (target %v), %d trimmed, %d underrun", s.Buffered, PlayoutTarget, s.Trimmed, s.Underrun)
	}
	// Jitter that needs the buffer keeps it: 40 ms gaps, 40 ms bursts.
	q := NewPlayout()
	q.Write(ramp(0, 40*48), time.Time{})
	for i := range 120 {
		q.Read(out)
		if i%4 == 3 {
			q.Write(ramp(0, 4*480), time.Time{})
		}
	}
	if s := q.Stats(); s.Trimmed != 0 {
		t.Errorf("trimmed %d sample frames the jitter needed: %+v", s.Trimmed, s)
	}
}
