package browser

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

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
	processes(dir, func(pid int, _ []byte) {
		if pu, err := load.ProcessUsage(pid); err == nil {
			u.CPU += pu.CPU
			if pss, ok := pss(pid); ok {
				u.RSS += pss
			} else {
				u.RSS += pu.RSS
			}
		}
	})
	return u
}

// processes calls each with the pid and command line of every process of
// the browser whose profile directory is dir (chromedp.UserDataDir: it is
// on each of its processes' command lines). Linux; none elsewhere.
func processes(dir string, each func(pid int, cmdline []byte)) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "--user-data-dir="+dir) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			each(pid, b)
		}
	}
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

// Threads is the CPU time of each thread of a browser's processes, summed
// by "process type/thread name" (renderer/DedicatedWorker,
// gpu-process/VizCompositorTh, NetworkService/Chrome_ChildIOT …): where
// the browser's time goes, for comparing two ways of doing one thing (a
// call through the relay, a call with the browser's own WebRTC). Thread
// names are Linux's, cut to 15 bytes; the same name in one process type
// is one entry (a renderer's four workers are one DedicatedWorker).
type Threads map[string]time.Duration

// ThreadUsage reads the CPU time of every thread of the browser whose
// profile directory is dir. Linux; empty elsewhere.
func ThreadUsage(dir string) Threads {
	t := Threads{}
	threads(dir, func(typ, stat string) {
		// Chromium numbers its pool threads: one entry for them all.
		if name, u, err := load.ParseStat(stat); err == nil {
			t[typ+"/"+strings.TrimRight(name, "0123456789")] += u.CPU
		}
	})
	return t
}

// threads calls each with the process type (processType) and the stat
// line (/proc/PID/task/TID/stat) of every thread of the browser whose
// profile directory is dir. Linux; none elsewhere.
func threads(dir string, each func(typ, stat string)) {
	processes(dir, func(pid int, cmdline []byte) {
		typ := processType(cmdline)
		stats, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/[0-9]*/stat")
		for _, s := range stats {
			if b, err := os.ReadFile(s); err == nil { // else the thread ended
				each(typ, string(b))
			}
		}
	})
}

// processType is a Chromium process's role from its command line (NUL-
// or space-separated: Chromium rewrites it): --type (renderer,
// gpu-process, zygote), a utility process's service (the last part of
// --utility-sub-type: NetworkService, AudioService …), or "browser".
func processType(cmdline []byte) string {
	typ := "browser"
	for _, a := range strings.FieldsFunc(string(cmdline), func(r rune) bool { return r == 0 || r == ' ' }) {
		if v, ok := strings.CutPrefix(a, "--utility-sub-type="); ok {
			return v[strings.LastIndexByte(v, '.')+1:]
		}
		if v, ok := strings.CutPrefix(a, "--type="); ok {
			typ = v
		}
	}
	return typ
}

// Busiest returns the n threads (as Threads sums them) that used the most
// CPU between before and t, over elapsed, each as "NAME P %" (P: % of
// one core), busiest first, and the whole browser's %.
func (t Threads) Busiest(before Threads, elapsed time.Duration, n int) (top []string, total float64) {
	type entry struct {
		name string
		cpu  time.Duration
	}
	var all []entry
	var sum time.Duration
	for k, v := range t {
		d := v - before[k]
		if d > 0 {
			all = append(all, entry{k, d})
			sum += d
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		if c := cmp.Compare(b.cpu, a.cpu); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	pct := func(d time.Duration) float64 { return float64(d) / float64(elapsed) * 100 }
	for _, e := range all[:min(n, len(all))] {
		top = append(top, fmt.Sprintf("%s %.1f %%", e.name, pct(e.cpu)))
	}
	return top, pct(sum)
}

// WorkerPriorities returns the nice value (Linux setpriority: −20 the
// highest, 0 the default) of every worker thread (Chromium's
// "DedicatedWorker thread") of the renderers of the browser whose profile
// directory is dir: how the browser ranks a page's workers against its
// other threads when the machine's cores are all busy. Linux; none
// elsewhere.
func WorkerPriorities(dir string) []int {
	var nices []int
	threads(dir, func(typ, stat string) {
		if nice, ok := workerNice(stat); ok && typ == "renderer" {
			nices = append(nices, nice)
		}
	})
	return nices
}

// workerNice returns the nice value (field 19) of a thread's stat line,
// if the thread is a worker's (its name, cut to 15 bytes, DedicatedWorker).
func workerNice(stat string) (int, bool) {
	name, f, err := load.StatFields(stat)
	if err != nil || !strings.HasPrefix(name, "DedicatedWorker") || len(f) < 17 {
		return 0, false
	}
	nice, err := strconv.Atoi(f[16])
	return nice, err == nil
}
