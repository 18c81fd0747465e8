package browser

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/quicast/quicast/relay/load"
)

// Usage sums the CPU time and resident memory of every process of the
// browser whose profile directory is dir (chromedp.UserDataDir: it is on
// each of its processes' command lines). Linux; zero elsewhere.
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
			u.RSS += pu.RSS
		}
	}
	return u
}
