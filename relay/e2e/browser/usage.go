package browser

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/quicast/quicast/relay/load"
)

// Usage sums the CPU time and memory of every process of the browser
// whose profile directory is dir (chromedp.UserDataDir: it is on each of
// its processes' command lines). Its RSS is the processes' proportional
// set size (PSS: each shared page divided among the processes sharing
// it), not their resident sizes, which count the shared libraries and
// memory once per process. Linux; zero elsewhere.
func Usage(dir string) load.Usage {
	var u load.Usage
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "--user-data-dir="+dir) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if pu, err := load.ProcessUsage(pid); err == nil {
			u.CPU += pu.CPU
			if pss, ok := pss(pid); ok {
				u.RSS += pss
			} else {
				u.RSS += pu.RSS
			}
		}
	}
	return u
}

// pss reads pid's proportional set size, in bytes, from
// /proc/PID/smaps_rollup.
func pss(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
