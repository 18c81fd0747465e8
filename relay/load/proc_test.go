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

// TestParseStat: a thread's stat line whose name holds a space and a
// parenthesis (Chromium names its threads so), and lines cut short.
func TestParseStat(t *testing.T) {
	line := "4242 (Realtime (Aud) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 -2 0 30 0 1366298 1000000 2560 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 -1 1 0 0 0 0 0"
	name, u, err := ParseStat(line)
	if err != nil || name != "Realtime (Aud" || u.CPU != 168*clockTick || u.RSS != 2560*uint64(os.Getpagesize()) {
		t.Errorf("ParseStat = %q, %+v, %v; want \"Realtime (Aud\", 1.68 s, 2560 pages", name, u, err)
	}
	for _, bad := range []string{"", "4242 Realtime S 1", "4242 (x) S 1 2 3"} {
		if _, _, err := ParseStat(bad); err == nil {
			t.Errorf("ParseStat(%q): no error", bad)
		}
	}
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
