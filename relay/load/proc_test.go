package load

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestProcessUsage reads this test's own process: some CPU time used,
// and at least the memory it holds now resident.
func TestProcessUsage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	hold := make([]byte, 64<<20)
	for i := range hold {
		hold[i] = byte(i)
	}
	u, err := ProcessUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU <= 0 || u.RSS < uint64(len(hold)) {
		t.Errorf("usage %+v: want CPU > 0 and RSS ≥ %d", u, len(hold))
	}
	runtime.KeepAlive(hold)
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {50, 3}, {95, 5}, {100, 5}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("p%.0f = %v, want %v", c.p, got, c.want)
		}
	}
	if v[0] != 5 || Percentile(nil, 50) != 0 {
		t.Errorf("changed its input (%v) or gave a value for none", v)
	}
}

func TestParsePressure(t *testing.T) {
	got, err := parsePressure("some avg10=1.09 avg60=26.36 avg300=49.53 total=1145639622\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n")
	if err != nil || got != 1145639622*time.Microsecond {
		t.Errorf("parsePressure = %v, %v; want 1145.639622 s", got, err)
	}
	for _, bad := range []string{"", "full avg10=0 total=3\n", "some avg10=0 total=x\n"} {
		if d, err := parsePressure(bad); err == nil {
			t.Errorf("parsePressure(%q) = %v, want an error", bad, d)
		}
	}
}
