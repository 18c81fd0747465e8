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
const traceCategories = "toplevel,devtools.timeline,disabled-by-default-devtools.timeline,v8,v8.execute,blink,media,webaudio,cc,gpu,viz,renderer.scheduler,disabled-by-default-v8.gc,mojom,ipc,net,disabled-by-default-v8.cpu_profiler"

// The trace's V8 samples (disabled-by-default-v8.cpu_profiler) are taken
// on every thread that runs JavaScript or WebAssembly: the page's main
// thread and its workers alike. Trace.Samples sums them per thread.

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

// Samples returns, per thread that ran JavaScript or WebAssembly in the
// stopped trace (busiest first), its name, the time of its samples that
// were not idle, and its n functions with the most time of their own,
// each as "share% name" (shares of that thread's non-idle time).
func (t *Trace) Samples(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	type key struct {
		pid int
		id  string
	}
	type prof struct {
		tid   int
		names map[int]string // node id → function (file)
		self  map[string]float64
		busy  float64 // µs
	}
	threads := map[[2]int]string{}
	profs := map[key]*prof{}
	get := func(k key) *prof {
		if profs[k] == nil {
			profs[k] = &prof{names: map[int]string{}, self: map[string]float64{}}
		}
		return profs[k]
	}
	for _, r := range t.events {
		var e struct {
			Name string `json:"name"`
			Ph   string `json:"ph"`
			Pid  int    `json:"pid"`
			Tid  int    `json:"tid"`
			ID   string `json:"id"`
			Args struct {
				Name string `json:"name"`
				Data struct {
					CPUProfile struct {
						Nodes []struct {
							ID        int `json:"id"`
							CallFrame struct {
								FunctionName string `json:"functionName"`
								URL          string `json:"url"`
							} `json:"callFrame"`
						} `json:"nodes"`
						Samples []int `json:"samples"`
					} `json:"cpuProfile"`
					TimeDeltas []float64 `json:"timeDeltas"`
				} `json:"data"`
			} `json:"args"`
		}
		if json.Unmarshal(r, &e) != nil {
			continue
		}
		switch {
		case e.Ph == "M" && e.Name == "thread_name":
			threads[[2]int{e.Pid, e.Tid}] = e.Args.Name
		case e.Name == "Profile":
			get(key{e.Pid, e.ID}).tid = e.Tid
		case e.Name == "ProfileChunk":
			p := get(key{e.Pid, e.ID})
			for _, nd := range e.Args.Data.CPUProfile.Nodes {
				name := nd.CallFrame.FunctionName
				if name == "" {
					name = "(anonymous)"
				}
				if i := strings.LastIndex(nd.CallFrame.URL, "/"); i >= 0 {
					name += " (" + nd.CallFrame.URL[i+1:] + ")"
				}
				p.names[nd.ID] = name
			}
			for i, id := range e.Args.Data.CPUProfile.Samples {
				if i >= len(e.Args.Data.TimeDeltas) {
					break
				}
				d := e.Args.Data.TimeDeltas[i]
				name := p.names[id]
				p.self[name] += d
				if name != "(idle)" {
					p.busy += d
				}
			}
		}
	}
	var all []key
	for k := range profs {
		all = append(all, k)
	}
	sort.Slice(all, func(i, j int) bool { return profs[all[i]].busy > profs[all[j]].busy })
	var out []string
	for _, k := range all {
		p := profs[k]
		if p.busy == 0 {
			continue
		}
		delete(p.self, "(idle)")
		out = append(out, fmt.Sprintf("pid %d %s (tid %d): %.0f ms not idle: %s", k.pid, threads[[2]int{k.pid, p.tid}], p.tid, p.busy/1000,
			strings.Join(topShares(p.self, p.busy, n), "; ")))
	}
	return out
}
