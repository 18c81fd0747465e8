package receive

import (
	"testing"
	"time"
)

// The mixer sums its Playouts sample by sample, each read on the one
// clock, clips what overflows int16, passes one input through unchanged
// and plays silence with none.
func TestMixer(t *testing.T) {
	target := samples(PlayoutTarget) / Channels
	full := func(v int16) *Playout {
		p := NewPlayout()
		s := make([]int16, target*Channels)
		for i := range s {
			s[i] = v
		}
		p.Write(s, time.Time{})
		return p
	}
	m := NewMixer()
	out := make([]int16, 480*Channels)
	for i := range out {
		out[i] = 7
	}
	m.Read(out)
	if out[0] != 0 || out[len(out)-1] != 0 {
		t.Fatalf("no inputs played %v…%v, want silence", out[:2], out[len(out)-2:])
	}

	a, b := NewPlayout(), full(-300)
	a.Write(ramp(0, target), time.Time{})
	m.Add(a)
	m.Add(a)
	if m.Inputs() != 1 {
		t.Fatalf("%d inputs after adding one twice", m.Inputs())
	}
	m.Read(out)
	if out[2] != 1 || out[3] != -1 || out[len(out)-2] != 479 {
		t.Fatalf("one input: %v…%v, want its ramp", out[:4], out[len(out)-2:])
	}
	m.Add(b)
	m.Read(out) // a from 480 on, b at -300
	if out[0] != 480-300 || out[1] != -480-300 || out[len(out)-2] != 959-300 {
		t.Errorf("two inputs: %v…%v, want their sum", out[:2], out[len(out)-2:])
	}
	if a.Stats().Read != 960 || b.Stats().Read != 480 {
		t.Errorf("read %d and %d sample frames, want 960 and 480", a.Stats().Read, b.Stats().Read)
	}

	m.Remove(a)
	m.Remove(b)
	loud, louder := full(30000), full(20000)
	m.Add(loud)
	m.Add(louder)
	m.Read(out)
	if out[0] != 32767 {
		t.Errorf("30000 + 20000 gave %d, want 32767 (clipped)", out[0])
	}
	quiet := full(-30000)
	m.Remove(louder)
	m.Add(full(-20000))
	m.Add(quiet)
	m.Remove(loud)
	m.Read(out)
	if out[0] != -32768 {
		t.Errorf("-20000 + -30000 gave %d, want -32768 (clipped)", out[0])
	}
}
