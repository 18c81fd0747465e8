package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/cdproto/tracing"
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
	self := map[string]float64{}
	var total float64
	for _, node := range p.Nodes {
		f := node.CallFrame
		name := f.FunctionName
		if name == "" {
			name = "(anonymous)"
		}
		if i := strings.LastIndex(f.URL, "/"); i >= 0 && f.URL != "" {
			name += " (" + f.URL[i+1:] + ")"
		}
		self[name] += float64(node.HitCount)
		total += float64(node.HitCount)
	}
	return topShares(self, total, n)
}

// topShares returns the n largest of self, each as "share% name", shares
// of total.
func topShares(self map[string]float64, total float64, n int) []string {
	names := make([]string, 0, len(self))
	for k := range self {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return self[names[i]] > self[names[j]] })
	var out []string
	for _, k := range names[:min(n, len(names))] {
		out = append(out, fmt.Sprintf("%5.1f%% %s", 100*self[k]/max(total, 1), k))
	}
	return out
}

// Trace is a Chrome trace being recorded (StartTrace).
type Trace struct {
	ctx    context.Context
	mu     sync.Mutex
	events []json.RawMessage
	done   chan struct{}
}

// traceCategories are what the trace records: every task of every thread
// with where it was posted from, V8 and Blink's main-thread work, media,
// WebAudio, compositing and the GPU process.
const traceCategories = "toplevel,devtools.timeline,disabled-by-default-devtools.timeline,v8,v8.execute,blink,media,webaudio,cc,gpu,viz,renderer.scheduler,disabled-by-default-v8.gc,mojom,ipc,net"

// StartTrace starts recording a Chrome trace (every process of the
// browser) on the page of ctx.
func StartTrace(ctx context.Context) (*Trace, error) {
	t := &Trace{ctx: ctx, done: make(chan struct{})}
	var once sync.Once
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *tracing.EventDataCollected:
			t.mu.Lock()
			for _, v := range ev.Value {
				t.events = append(t.events, json.RawMessage(v))
			}
			t.mu.Unlock()
		case *tracing.EventTracingComplete:
			once.Do(func() { close(t.done) })
		}
	}); err != nil {
		return nil, err
	}
	_, err := chromedp.Call(ctx, tracing.Start, tracing.StartParams{
		TransferMode: tracing.StartTransferModeReportEvents,
		TraceConfig: &tracing.TraceConfig{
			RecordMode:          tracing.TraceConfigRecordModeRecordAsMuchAsPossible,
			TraceBufferSizeInKb: 400 << 10,
			IncludedCategories:  strings.Split(traceCategories, ","),
		},
	})
	return t, err
}

// Stop ends the trace, writes it to path (Chrome's JSON trace format:
// chrome://tracing, Perfetto and DevTools open it) and returns the n
// event names with the most time of their own on the busiest renderer
// main thread, each as "share% name", shares of the traced wall time.
func (t *Trace) Stop(path string, n int) ([]string, error) {
	if _, err := chromedp.Call(t.ctx, tracing.End, cdp.Empty{}); err != nil {
		return nil, err
	}
	select {
	case <-t.done:
	case <-t.ctx.Done():
		return nil, t.ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	w.WriteString(`{"traceEvents":[`)
	for i, e := range t.events {
		if i > 0 {
			w.WriteString(",\n")
		}
		w.Write(e)
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return mainThreadSelf(t.events, n), nil
}

// traceEvent is the part of a Chrome trace event the summary reads
// (times in µs).
type traceEvent struct {
	Name string  `json:"name"`
	Ph   string  `json:"ph"`
	Ts   float64 `json:"ts"`
	Dur  float64 `json:"dur"`
	Pid  int     `json:"pid"`
	Tid  int     `json:"tid"`
	Args struct {
		Name string `json:"name"`
		Src  string `json:"src_func"`
	} `json:"args"`
}

// mainThreadSelf sums each event's own time (its duration less that of
// the events nested in it) on the renderer main thread with the most
// traced time, a task named by the function that posted it.
func mainThreadSelf(raw []json.RawMessage, n int) []string {
	type thread struct{ pid, tid int }
	var events []traceEvent
	mains := map[thread]bool{}
	for _, r := range raw {
		var e traceEvent
		if json.Unmarshal(r, &e) != nil {
			continue
		}
		if e.Ph == "M" && e.Name == "thread_name" && e.Args.Name == "CrRendererMain" {
			mains[thread{e.Pid, e.Tid}] = true
		}
		if e.Ph == "X" {
			events = append(events, e)
		}
	}
	busy := map[thread]float64{}
	for _, e := range events {
		if th := (thread{e.Pid, e.Tid}); mains[th] {
			busy[th] += e.Dur
		}
	}
	var main thread
	for th, b := range busy {
		if b > busy[main] {
			main = th
		}
	}
	var on []traceEvent
	for _, e := range events {
		if (thread{e.Pid, e.Tid}) == main {
			on = append(on, e)
		}
	}
	sort.Slice(on, func(i, j int) bool {
		if on[i].Ts != on[j].Ts {
			return on[i].Ts < on[j].Ts
		}
		return on[i].Dur > on[j].Dur
	})
	self := map[string]float64{}
	var stack []traceEvent
	name := func(e traceEvent) string {
		if e.Args.Src != "" {
			return e.Name + " " + e.Args.Src
		}
		return e.Name
	}
	var first, last float64
	for i, e := range on {
		if i == 0 {
			first = e.Ts
		}
		last = max(last, e.Ts+e.Dur)
		for len(stack) > 0 && stack[len(stack)-1].Ts+stack[len(stack)-1].Dur <= e.Ts {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			self[name(stack[len(stack)-1])] -= min(e.Dur, stack[len(stack)-1].Ts+stack[len(stack)-1].Dur-e.Ts)
		}
		self[name(e)] += e.Dur
		stack = append(stack, e)
	}
	return topShares(self, last-first, n)
}
