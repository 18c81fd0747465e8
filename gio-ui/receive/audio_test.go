package receive

import (
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

	p.Write(ramp(0, target-1))
	p.Read(out)
	if out[0] != 0 || out[len(out)-2] != 0 || p.Stats().Underrun != 0 {
		t.Fatalf("played before the target was reached: %v…, %+v", out[:4], p.Stats())
	}
	p.Write(ramp(target-1, 1))
	p.Read(out)
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
	p.Write(ramp(0, SampleRate/2))
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
	p.Write(ramp(0, SampleRate/10))
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
