package load

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Usage is what a process has used: CPU time (user + system) since it
// started, and its resident memory now.
type Usage struct {
	CPU time.Duration
	RSS uint64 // bytes
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// ProcessUsage reads pid's usage from /proc (Linux; an error elsewhere).
func ProcessUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Usage{}, err
	}
	_, u, err := ParseStat(string(stat))
	return u, err
}

// ParseStat reads a process's or a thread's stat line (/proc/PID/stat,
// /proc/PID/task/TID/stat; proc(5)): its command name (field 2, without
// the parentheses) and its usage (user plus system time, resident size).
func ParseStat(stat string) (name string, u Usage, err error) {
	name, f, err := StatFields(stat)
	if err != nil {
		return "", Usage{}, err
	}
	if len(f) < 22 {
		return "", Usage{}, errors.New("load: /proc stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	rss, err3 := strconv.ParseUint(f[21], 10, 64)   // field 24, pages
	if err := errors.Join(err1, err2, err3); err != nil {
		return "", Usage{}, err
	}
	return name, Usage{CPU: time.Duration(utime+stime) * clockTick, RSS: rss * uint64(os.Getpagesize())}, nil
}

// StatFields splits a stat line (proc(5)) into its command name (field 2,
// without the parentheses) and the fields after it: fields[0] is field 3
// (the state), fields[k] field k+3.
func StatFields(stat string) (name string, fields []string, err error) {
	// The command name may hold spaces and ')': fields count from the last ')'.
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", nil, errors.New("load: /proc stat: no command field")
	}
	return stat[open+1 : end], strings.Fields(stat[end+1:]), nil
}

// Cost is what the relay spent on a measurement window.
type Cost struct {
	CPUPercent      float64 // of one core, over the window
	CPUSecondsPerGB float64 // relay CPU time per GB delivered to the viewers
	RSSPerViewerMB  float64 // resident memory at the end, divided by the open viewers
	RSSMB           float64
}

// RelayCost relates the relay's usage before and after a window to what
// the viewers received in it.
func RelayCost(before, after Usage, r Result) Cost {
	var c Cost
	cpu := (after.CPU - before.CPU).Seconds()
	if r.Window > 0 {
		c.CPUPercent = cpu / r.Window.Seconds() * 100
	}
	if r.Bytes > 0 {
		c.CPUSecondsPerGB = cpu / (float64(r.Bytes) / 1e9)
	}
	c.RSSMB = float64(after.RSS) / 1e6
	if r.Open > 0 {
		c.RSSPerViewerMB = c.RSSMB / float64(r.Open)
	}
	return c
}

func (c Cost) String() string {
	return fmt.Sprintf("relay: %.0f %% of a core, %.1f CPU-s per GB delivered, %.0f MB resident (%.2f MB per viewer)",
		c.CPUPercent, c.CPUSecondsPerGB, c.RSSMB, c.RSSPerViewerMB)
}

// Percentile returns the p-th percentile (0–100) of v, nearest rank; 0
// for none. v is not changed.
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

// CPUPressure reads how long, in all, some runnable task of the machine
// has waited for a CPU since it booted: the "some" line's total of Linux's
// pressure stall information (/proc/pressure/cpu, kernel 4.20+, psi=1).
// Over a window, its growth divided by the window's length is the share of
// the time something was ready to run but no core was free. An error where
// the kernel does not keep it.
func CPUPressure() (time.Duration, error) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, err
	}
	return parsePressure(string(b))
}

// parsePressure returns the total (µs) of the "some" line of a
// /proc/pressure file.
func parsePressure(s string) (time.Duration, error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "some" {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "total="); ok {
				us, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("load: pressure total %q: %w", v, err)
				}
				return time.Duration(us) * time.Microsecond, nil
			}
		}
	}
	return 0, errors.New("load: no \"some ... total=\" in the pressure file")
}

// PressureWindow measures the CPU pressure (CPUPressure) over a window.
type PressureWindow struct {
	total time.Duration
	at    time.Time
	err   error
}

// StartPressure starts a window now.
func StartPressure() PressureWindow {
	total, err := CPUPressure()
	return PressureWindow{total: total, at: time.Now(), err: err}
}

// Percent returns the share of the window so far (%) in which some
// runnable task waited for a CPU: 0 on an idle machine, near 100 on a
// saturated one. An error where the kernel keeps no pressure figures.
func (w PressureWindow) Percent() (float64, error) {
	if w.err != nil {
		return 0, w.err
	}
	total, err := CPUPressure()
	if err != nil {
		return 0, err
	}
	return float64(total-w.total) / float64(time.Since(w.at)) * 100, nil
}
