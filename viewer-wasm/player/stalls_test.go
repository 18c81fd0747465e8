package player

import (
	"testing"
	"time"
)

func TestStalls(t *testing.T) {
	var s Stalls
	t0 := time.Unix(1000, 0)
	for _, ms := range []int{0, 10, 20, 80, 90, 200, 150, 210} {
		s.Mark(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	// gaps: 10 10 60 10 110 (−50: out of order) 10
	if s.Over50 != 2 || s.Over100 != 1 || s.Longest != 110*time.Millisecond {
		t.Fatalf("got %d over 50 ms, %d over 100 ms, longest %v; want 2, 1, 110ms", s.Over50, s.Over100, s.Longest)
	}
	s.Reset()
	s.Mark(t0.Add(time.Second))
	if s.Over50 != 0 || s.Longest != 0 {
		t.Fatalf("after Reset: %+v", s)
	}
}
