package browser

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestProcessType(t *testing.T) {
	for _, c := range []struct{ cmdline, want string }{
		{"/usr/lib/chromium/chromium\x00--headless\x00--user-data-dir=/tmp/x\x00", "browser"},
		{"/usr/lib/chromium/chromium --type=renderer --user-data-dir=/tmp/x --renderer-client-id=5", "renderer"},
		{"/usr/lib/chromium/chromium\x00--type=gpu-process\x00--user-data-dir=/tmp/x\x00", "gpu-process"},
		{"/usr/lib/chromium/chromium --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en", "NetworkService"},
		{"/usr/lib/chromium/chromium --utility-sub-type=audio.mojom.AudioService --type=utility", "AudioService"},
	} {
		if got := processType([]byte(c.cmdline)); got != c.want {
			t.Errorf("processType(%q) = %q, want %q", c.cmdline, got, c.want)
		}
	}
}

func TestWorkerNice(t *testing.T) {
	for _, c := range []struct {
		stat string
		nice int
		ok   bool
	}{
		{"4242 (DedicatedWorker) S 1 2 3 0 -1 4194368 10 0 0 0 30 5 0 0 12 -8 40 0 2049752 0 0", -8, true},
		{"4243 (DedicatedWorker) R 1 2 3 0 -1 4194368 10 0 0 0 30 5 0 0 20 0 40 0 2049752 0 0", 0, true},
		{"4244 (Compositor) S 1 2 3 0 -1 4194368 10 0 0 0 30 5 0 0 12 -8 40 0 2049752 0 0", 0, false}, // not a worker
		{"4245 (DedicatedWorker) S 1 2 3", 0, false},                                                  // cut short
	} {
		nice, ok := workerNice(c.stat)
		if nice != c.nice || ok != c.ok {
			t.Errorf("workerNice(%q) = %d, %v; want %d, %v", c.stat, nice, ok, c.nice, c.ok)
		}
	}
}

func TestBusiest(t *testing.T) {
	before := Threads{"renderer/DedicatedWorker": time.Second, "gpu-process/VizCompositorTh": 0, "browser/chromium": time.Second}
	after := Threads{
		"renderer/DedicatedWorker":    time.Second + 400*time.Millisecond,
		"gpu-process/VizCompositorTh": 100 * time.Millisecond,
		"browser/chromium":            time.Second, // idle in the window: left out
		"renderer/Compositor":         100 * time.Millisecond,
	}
	top, total := after.Busiest(before, 2*time.Second, 2)
	want := []string{"renderer/DedicatedWorker 20.0 %", "gpu-process/VizCompositorTh 5.0 %"}
	if !slices.Equal(top, want) || total != 30 {
		t.Errorf("Busiest = %q, %.1f %%; want %q, 30 %%", top, total, want)
	}
}

// TestThreadUsage: a process with a browser's command line (this test's
// binary again) that has used some CPU is found by its profile directory
// and its time counted under its type.
func TestThreadUsage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc: Linux only")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBurnHelper$", "--", "--type=renderer", "--user-data-dir="+dir)
	cmd.Env = append(os.Environ(), "QUICAST_BURN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	// It says when it has burnt its CPU, then waits for its stdin to close.
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "burnt\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	th := ThreadUsage(dir)
	var total time.Duration
	for k, v := range th {
		if k[:len("renderer/")] != "renderer/" {
			t.Errorf("thread %q of another type than the command line's", k)
		}
		total += v
	}
	// It burnt burn of CPU; /proc counts in 10 ms ticks.
	if total < burn/2 {
		t.Errorf("ThreadUsage = %v (%v in all), want at least %v", th, total, burn/2)
	}
	if len(ThreadUsage(t.TempDir())) != 0 {
		t.Error("ThreadUsage of a directory no process has counted some")
	}
}

// burn is the CPU time TestBurnHelper uses.
const burn = 200 * time.Millisecond

// TestBurnHelper is TestThreadUsage's browser process: it uses burn of CPU,
// says so, and waits for its stdin to close.
func TestBurnHelper(t *testing.T) {
	if os.Getenv("QUICAST_BURN") != "1" {
		t.Skip("TestThreadUsage's helper process")
	}
	for x := 0; ; x++ {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= burn {
			break
		}
		for i := 0; i < 1e6; i++ {
			x ^= i
		}
	}
	os.Stdout.WriteString("burnt\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
}
