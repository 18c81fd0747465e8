package protocol

import (
	"testing"
	"time"
)

func TestJitterBufferReorders(t *testing.T) {
	t0 := time.Unix(1000, 0)
	j := NewJitterBuffer(48000, 20*time.Millisecond, 200*time.Millisecond)
	push := func(seq uint16, at time.Duration) { j.Push(seq, uint32(seq)*960, t0.Add(at), []byte{byte(seq)}) }
	pop := func(at time.Duration) []uint16 {
		var out []uint16
		for {
			s, _, _, ok := j.Pop(t0.Add(at))
			if !ok {
				return out
			}
			out = append(out, s)
		}
	}
	// 65534, 65535, 1, 0 around the wrap: 0 arrives late but within the delay.
	push(65534, 0)
	push(65535, 20*time.Millisecond)
	push(1, 40*time.Millisecond)
	if got := pop(41 * time.Millisecond); len(got) != 2 || got[0] != 65534 || got[1] != 65535 {
		t.Fatalf("released %v, want [65534 65535] and a wait for 0", got)
	}
	push(0, 45*time.Millisecond)
	if got := pop(46 * time.Millisecond); len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("released %v, want [0 1]", got)
	}
	// Duplicate and late packets.
	push(1, 50*time.Millisecond)
	if j.Late != 1 {
		t.Errorf("late = %d, want 1", j.Late)
	}
	push(3, 60*time.Millisecond)
	push(3, 61*time.Millisecond)
	if j.Duplicate != 1 {
		t.Errorf("duplicate = %d, want 1", j.Duplicate)
	}
	// 2 never comes: after the delay it is lost and 3 is released.
	if got := pop(62 * time.Millisecond); len(got) != 0 {
		t.Fatalf("released %v before the delay", got)
	}
	if got := pop(60*time.Millisecond + j.Delay()); len(got) != 1 || got[0] != 3 || j.Lost != 1 {
		t.Fatalf("released %v lost %d, want [3] and 1 lost", got, j.Lost)
	}
}

func TestJitterEstimateAdapts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	steady := NewJitterBuffer(48000, 10*time.Millisecond, 500*time.Millisecond)
	jittery := NewJitterBuffer(48000, 10*time.Millisecond, 500*time.Millisecond)
	for i := 0; i < 500; i++ {
		at := time.Duration(i) * 20 * time.Millisecond
		steady.Push(uint16(i), uint32(i)*960, t0.Add(at), nil)
		wobble := time.Duration(i%2) * 30 * time.Millisecond
		jittery.Push(uint16(i), uint32(i)*960, t0.Add(at+wobble), nil)
	}
	if steady.Jitter() > time.Millisecond {
		t.Errorf("steady jitter %v", steady.Jitter())
	}
	if jittery.Jitter() < 20*time.Millisecond || jittery.Delay() <= steady.Delay() {
		t.Errorf("jittery: jitter %v delay %v; steady delay %v", jittery.Jitter(), jittery.Delay(), steady.Delay())
	}
}

// FuzzJitterBuffer: whatever arrives, packets come out in strictly
// increasing (wrap-aware) order without duplicates.
func FuzzJitterBuffer(f *testing.F) {
	f.Add([]byte{0, 1, 3, 2, 2, 9, 4, 200, 5})
	f.Fuzz(func(t *testing.T, seqs []byte) {
		j := NewJitterBuffer(48000, 20*time.Millisecond, 100*time.Millisecond)
		t0 := time.Unix(0, 0)
		var last uint16
		have := false
		for i, b := range seqs {
			seq := uint16(b) * 7
			now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
			j.Push(seq, uint32(seq)*960, now, nil)
			for {
				s, _, _, ok := j.Pop(now.Add(time.Duration(b%3) * 50 * time.Millisecond))
				if !ok {
					break
				}
				if have && int16(s-last) <= 0 {
					t.Fatalf("released %d after %d", s, last)
				}
				last, have = s, true
			}
		}
	})
}

// SetWait lets a gap stay open longer than the jitter alone would (a
// packet being resent), within the bounds.
func TestJitterBufferSetWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	j := NewJitterBuffer(48000, 20*time.Millisecond, 200*time.Millisecond)
	j.Push(1, 0, t0, []byte{1})
	j.Push(3, 960, t0.Add(20*time.Millisecond), []byte{3})
	if _, _, _, ok := j.Pop(t0); !ok {
		t.Fatal("first packet not released")
	}
	j.SetWait(80 * time.Millisecond)
	if _, _, _, ok := j.Pop(t0.Add(90 * time.Millisecond)); ok {
		t.Fatal("gap given up after 70 ms, want 80 ms of waiting")
	}
	j.Push(2, 480, t0.Add(95*time.Millisecond), []byte{2}) // the resent packet
	if seq, _, _, ok := j.Pop(t0.Add(95 * time.Millisecond)); !ok || seq != 2 {
		t.Fatalf("resent packet: seq %d ok %v", seq, ok)
	}
	j.SetWait(time.Hour)
	if d := j.Delay(); d != 200*time.Millisecond {
		t.Errorf("Delay = %v, want the 200 ms bound", d)
	}
}
