package load

import (
	"os"
	"runtime"
	"testing"
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
