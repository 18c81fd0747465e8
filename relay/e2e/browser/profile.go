package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// StartProfile starts V8's sampling CPU profiler on the page's main thread
// (JavaScript and WebAssembly alike), sampling every 200 µs.
func StartProfile(ctx context.Context) error {
	if _, err := chromedp.Call(ctx, profiler.Enable, cdp.Empty{}); err != nil {
		return err
	}
	if _, err := chromedp.Call(ctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200}); err != nil {
		return err
	}
	_, err := chromedp.Call(ctx, profiler.Start, cdp.Empty{})
	return err
}

// StopProfile stops the profiler StartProfile started, writes the profile
// to path (a .cpuprofile file: Chrome DevTools' Performance panel opens it)
// and returns the n functions with the most samples of their own, each as
// "share% name (url)". A viewer built with `make wasm WASM_LDFLAGS=` keeps
// its function names; the stripped one shows wasm-function[index].
func StopProfile(ctx context.Context, path string, n int) ([]string, error) {
	res, err := chromedp.Call(ctx, profiler.Stop, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	p := res.Profile
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	return topSelf(p, n), nil
}

// topSelf sums the samples on top of each function (over every call
// site) and returns the n largest shares of all samples.
func topSelf(p *profiler.Profile, n int) []string {
	self := map[string]int64{}
	var total int64
	for _, node := range p.Nodes {
		f := node.CallFrame
		name := f.FunctionName
		if name == "" {
			name = "(anonymous)"
		}
		if i := strings.LastIndex(f.URL, "/"); i >= 0 && f.URL != "" {
			name += " (" + f.URL[i+1:] + ")"
		}
		self[name] += node.HitCount
		total += node.HitCount
	}
	names := make([]string, 0, len(self))
	for k := range self {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return self[names[i]] > self[names[j]] })
	var out []string
	for _, k := range names[:min(n, len(names))] {
		out = append(out, fmt.Sprintf("%5.1f%% %s", 100*float64(self[k])/float64(max(total, 1)), k))
	}
	return out
}
