package protocol

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	var b Backoff // the defaults: 500 ms doubling to 3 s, ±20 %
	for _, c := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0.5, 500 * time.Millisecond}, {2, 0.5, time.Second}, {3, 0.5, 2 * time.Second},
		{4, 0.5, 3 * time.Second}, {40, 0.5, 3 * time.Second},
		{1, 0, 400 * time.Millisecond}, {4, 0.999999, 3600 * time.Millisecond},
	} {
		if got := b.Delay(c.attempt, c.r); (got - c.want).Abs() > time.Millisecond {
			t.Errorf("Delay(%d, %v) = %v, want %v", c.attempt, c.r, got, c.want)
		}
	}
}
