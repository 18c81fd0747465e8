package media

import (
	"slices"
	"testing"
	"time"
)

var r0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return r0.Add(time.Duration(ms) * time.Millisecond) }

// seqs returns the first byte of each released packet (the tests' packets
// are one byte: their sequence number's low byte).
func seqs(rs []release) []int {
	var s []int
	for _, r := range rs {
		s = append(s, int(r.pkt[0]))
	}
	return s
}

func pushSeq(r *repairer, seq uint16, ms int) []release {
	return r.push(seq, []byte{byte(seq)}, 1, at(ms), 5*time.Millisecond, nil)
}

func TestRepairerHoldsVideoBehindAGap(t *testing.T) {
	r := newRepairer(true, &repairCounters{})
	var got []int
	for i, s := range []uint16{1, 2, 4, 5} {
		got = append(got, seqs(pushSeq(r, s, i))...)
	}
	if want := []int{1, 2}; !slices.Equal(got, want) {
		t.Fatalf("released %v, want %v (4 and 5 wait for 3)", got, want)
	}
	// Not asked for while it may only be reordered (5 ms of jitter).
	if nacks, _, next, _ := r.tick(at(4), 5*time.Millisecond, nil, nil); len(nacks) != 0 || !next.Equal(at(7)) {
		t.Fatalf("at 4 ms: nacks %v, next at %v; want none, next at 7 ms", nacks, next.Sub(r0))
	}
	nacks, _, next, _ := r.tick(at(7), 5*time.Millisecond, nil, nil)
	if !slices.Equal(nacks, []uint16{3}) {
		t.Fatalf("at 7 ms: nacks %v, want [3]", nacks)
	}
	if want := at(7).Add(initialRTT * 3 / 2); !next.Equal(want) {
		t.Errorf("next request at %v, want %v (1.5 × the initial RTT)", next.Sub(r0), want.Sub(r0))
	}
	// The retransmission arrives 12 ms after the request.
	if got := seqs(pushSeq(r, 3, 19)); !slices.Equal(got, []int{3, 4, 5}) {
		t.Fatalf("after the repair: released %v, want [3 4 5]", got)
	}
	if r.c.repaired.Load() != 1 || r.c.nacked.Load() != 1 || !r.haveRTT || r.rtt != 12*time.Millisecond {
		t.Errorf("repaired %d nacked %d rtt %v, want 1, 1, 12ms", r.c.repaired.Load(), r.c.nacked.Load(), r.rtt)
	}
	if _, _, next, _ := r.tick(at(20), 0, nil, nil); !next.IsZero() {
		t.Errorf("nothing missing, yet a tick wanted at %v", next.Sub(r0))
	}
}

func TestRepairerAsksAgainThenGivesUp(t *testing.T) {
	r := newRepairer(true, &repairCounters{})
	pushSeq(r, 10, 0)
	pushSeq(r, 12, 1)
	var asked []int
	var released []int
	lostAt := -1
	for ms := 1; ms <= 1000; ms++ {
		nacks, out, _, lost := r.tick(at(ms), 5*time.Millisecond, nil, nil)
		for range nacks {
			asked = append(asked, ms)
		}
		released = append(released, seqs(out)...)
		if lost && lostAt < 0 {
			lostAt = ms
		}
	}
	// Asked at 6 ms, then every 75 ms (1.5 × 50 ms), maxNACKs times.
	if want := []int{6, 81, 156, 231}; !slices.Equal(asked, want) {
		t.Errorf("asked at %v ms, want %v", asked, want)
	}
	// Given up after the last request could have been answered.
	if want := 1 + int((r.wait(5*time.Millisecond)+maxNACKs*r.retry())/time.Millisecond); lostAt != want {
		t.Errorf("given up at %d ms, want %d", lostAt, want)
	}
	if !slices.Equal(released, []int{12}) || r.c.gaveUp.Load() != 1 {
		t.Errorf("released %v after giving up (%d given up), want [12]", released, r.c.gaveUp.Load())
	}
	// The packet comes after all: too late, counted, not released.
	if out := pushSeq(r, 11, 1001); len(out) != 0 || r.c.late.Load() != 1 {
		t.Errorf("late packet released %v (late %d)", seqs(out), r.c.late.Load())
	}
}

func TestRepairerForwardsAudioAtOnce(t *testing.T) {
	r := newRepairer(false, &repairCounters{})
	var got []int
	for i, s := range []uint16{65534, 65535, 1, 2} { // 0 is missing, across the wrap
		got = append(got, seqs(pushSeq(r, s, i))...)
	}
	if want := []int{254, 255, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("released %v, want %v at once", got, want)
	}
	nacks, _, _, _ := r.tick(at(10), 5*time.Millisecond, nil, nil)
	if !slices.Equal(nacks, []uint16{0}) {
		t.Fatalf("nacks %v, want [0]", nacks)
	}
	if got := seqs(pushSeq(r, 0, 11)); !slices.Equal(got, []int{0}) {
		t.Errorf("repair released %v, want [0]", got)
	}
	if out := pushSeq(r, 2, 12); len(out) != 0 || r.c.late.Load() != 1 {
		t.Errorf("a packet already released came again and was released: %v (late %d)", seqs(out), r.c.late.Load())
	}
}

func TestRepairerDuplicatesAndJumps(t *testing.T) {
	r := newRepairer(true, &repairCounters{})
	pushSeq(r, 100, 0)
	pushSeq(r, 102, 1)
	if out := pushSeq(r, 102, 2); len(out) != 0 || r.c.duplicates.Load() != 1 {
		t.Errorf("duplicate: released %v, duplicates %d", seqs(out), r.c.duplicates.Load())
	}
	// A jump further than the window releases what was held and restarts.
	got := seqs(pushSeq(r, 102+repairSlots+5, 3))
	if want := []int{102, byte102(repairSlots + 5)}; !slices.Equal(got, want) {
		t.Errorf("after a jump released %v, want %v", got, want)
	}
	if r.c.gaveUp.Load() != 1 {
		t.Errorf("gave up %d, want 1 (101)", r.c.gaveUp.Load())
	}
}

func byte102(d int) int { return int(byte(102 + d)) }

// A gap that fills by itself (reordering) makes later gaps wait as long
// before they are asked for.
func TestRepairerLearnsReordering(t *testing.T) {
	r := newRepairer(true, &repairCounters{})
	pushSeq(r, 1, 0)
	pushSeq(r, 3, 1)
	if got := seqs(pushSeq(r, 2, 21)); !slices.Equal(got, []int{2, 3}) { // 20 ms late, never asked for
		t.Fatalf("released %v", got)
	}
	if r.c.nacked.Load() != 0 {
		t.Fatal("asked for a packet that was only reordered")
	}
	if w := r.wait(5 * time.Millisecond); w != 22500*time.Microsecond {
		t.Errorf("wait %v after a packet 20 ms late, want 22.5ms (an eighth more)", w)
	}
	pushSeq(r, 5, 30)
	if nacks, _, _, _ := r.tick(at(52), 5*time.Millisecond, nil, nil); len(nacks) != 0 {
		t.Errorf("asked for %v 22 ms after the gap, want to wait 22.5 ms", nacks)
	}
	if nacks, _, _, _ := r.tick(at(53), 5*time.Millisecond, nil, nil); !slices.Equal(nacks, []uint16{4}) {
		t.Errorf("asked for %v 23 ms after the gap, want [4]", nacks)
	}
}
