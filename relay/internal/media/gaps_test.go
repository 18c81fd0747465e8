package media

import (
	"testing"
	"time"
)

func TestGapCounters(t *testing.T) {
	var g gapCounters
	var last time.Time
	t0 := time.Unix(1000, 0)
	// gaps: 10, 60, 10, 120, 3000 (a publisher back), 20 ms
	for _, ms := range []int{0, 10, 70, 80, 200, 3200, 3220} {
		g.add(&last, t0.Add(time.Duration(ms)*time.Millisecond))
	}
	if g.over50.Load() != 2 || g.over100.Load() != 1 {
		t.Fatalf("%d over 50 ms, %d over 100 ms; want 2, 1", g.over50.Load(), g.over100.Load())
	}
	if !last.Equal(t0.Add(3220 * time.Millisecond)) {
		t.Fatalf("last = %v", last)
	}
}
