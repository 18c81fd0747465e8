package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/quicast/quicast/relay/e2e/browser"
)

func TestZZProbe(t *testing.T) {
	r := startRelay(t)
	r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	var opts []chromedp.ExecAllocatorOption
	if f := os.Getenv("ZZFLAG"); f != "" {
		opts = append(opts, chromedp.Flag(f, true))
	}
	ctx := browser.New(t, opts...)
	login(t, ctx, r, r.user, r.password)
	waitFor(ctx, 10*time.Second, func() (bool, error) { return location(t, ctx) == "/", nil })
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/"+r.stream))
	for i := 0; i < 12; i++ {
		time.Sleep(time.Second)
		x, _ := eval[map[string]any](ctx, `(()=>{const s=quicastStats();return {dt:window.__dt,fmt:window.__fmt,target:s.targetDelayMs,und:s.audioUnderruns,lat:s.latencyP50Ms}})()`)
		t.Logf("%v", x)
	}
}
