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
	// The command name (field 2) may hold spaces: fields count from the ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Usage{}, errors.New("load: /proc stat: no command field")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return Usage{}, errors.New("load: /proc stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	rss, err3 := strconv.ParseUint(f[21], 10, 64)   // field 24, pages
	if err := errors.Join(err1, err2, err3); err != nil {
		return Usage{}, err
	}
	return Usage{CPU: time.Duration(utime+stime) * clockTick, RSS: rss * uint64(os.Getpagesize())}, nil
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
