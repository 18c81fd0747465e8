package player

import (
	"testing"
	"time"
)

func TestContinuity(t *testing.T) {
	var c Continuity
	t0 := time.Unix(100, 0)
	frame := 33333 * time.Microsecond
	shown := 0
	for i := range 90 { // three seconds at 30 fps
		if i >= 40 && i < 49 { // nine frames lost: a 333 ms freeze
			continue
		}
		if i == 70 { // one frame dropped late: 67 ms, not a freeze
			continue
		}
		c.Frame(int64(1000+3000*i), t0.Add(time.Duration(i)*frame))
		shown++
	}
	if c.Shown != shown || c.Expected() != 90 {
		t.Errorf("shown %d of %d expected, want %d of 90", c.Shown, c.Expected(), shown)
	}
	if c.Freezes != 1 || c.LongestFreeze != 10*frame {
		t.Errorf("freezes %d, longest %v; want 1 of %v", c.Freezes, c.LongestFreeze, 10*frame)
	}
	c.Reset()
	if c.Shown != 0 || c.Expected() != 0 || c.LongestFreeze != 0 {
		t.Errorf("after Reset: %+v", c)
	}
}
