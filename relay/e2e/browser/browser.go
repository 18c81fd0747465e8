// Package browser starts the headless Chromium the end-to-end tests watch
// broadcasts with, and drives it through chromedp as a person would.
package browser

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Path finds Debian's chromium (or a Chrome on PATH).
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: run scripts/deps.sh (make test does)")
	return ""
}

type console struct {
	mu sync.Mutex
	b  bytes.Buffer
	// networkCrashed: the browser process said its network service crashed.
	networkCrashed bool
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(&c.b, format, args...)
}

// Write keeps what the browser process prints (its own errors: a crashed
// network service or renderer say so there), the last 64 KiB of it.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b.Write(p)
	if bytes.Contains(p, []byte("Network service crashed")) {
		c.networkCrashed = true
	}
	if n := c.b.Len(); n > 64<<10 {
		c.b.Next(n - 64<<10)
	}
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// AutoplayBlocked makes the browser apply desktop Chrome's autoplay rule:
// a page plays sound only after the person clicked in it. (Headless
// Chromium's "user-gesture-required" lets Web Audio play regardless.)
func AutoplayBlocked() chromedp.ExecAllocatorOption {
	return chromedp.Flag("autoplay-policy", "document-user-activation-required")
}

// FakeMedia gives the browser Chromium's fake camera (a moving test
// pattern with a clock) and microphone (a beep), allowed without asking.
func FakeMedia() chromedp.ExecAllocatorOption {
	return func(a *chromedp.ExecAllocator) {
		chromedp.Flag("use-fake-device-for-media-stream", true)(a)
		chromedp.Flag("use-fake-ui-for-media-stream", true)(a)
	}
}

// TrustingCA makes the browser trust the CA certificate in caFile (PEM) the
// way a person who imported it does: in an NSS database of its own (its
// HOME), with the certificate errors no longer ignored. It needs certutil
// (Debian's libnss3-tools).
func TrustingCA(t testing.TB, caFile string) chromedp.ExecAllocatorOption {
	t.Helper()
	home := t.TempDir()
	db := "sql:" + home + "/.pki/nssdb"
	for _, args := range [][]string{
		{"mkdir", "-p", home + "/.pki/nssdb"},
		{"certutil", "-d", db, "-N", "--empty-password"},
		{"certutil", "-d", db, "-A", "-t", "C,,", "-n", "quicast relay CA", "-i", caFile},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s (certutil is in Debian's libnss3-tools: scripts/deps.sh installs it)", args, err, out)
		}
	}
	return func(a *chromedp.ExecAllocator) {
		chromedp.Env("HOME=" + home)(a)
		chromedp.Flag("ignore-certificate-errors", false)(a)
	}
}

// New starts a headless Chromium with a fresh profile and returns a context
// for chromedp.Run. The browser ends with the test; its console is logged
// when the test fails or runs verbose.
func New(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 800),
	}
	stderr := &console{}
	opts = append(opts, chromedp.CombinedOutput(stderr))
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	out := &console{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			out.printf("console.%s: %s\n", e.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			out.printf("exception: %s\n", msg)
		}
	}))
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	b := chromedp.FromContext(ctx).Browser
	outputs.Store(b, stderr)
	t.Cleanup(func() {
		outputs.Delete(b)
		if t.Failed() || testing.Verbose() {
			t.Logf("--- browser console:\n%s", out.String())
		}
		if t.Failed() {
			t.Logf("--- browser process output (last 64 KiB):\n%s", stderr.String())
		}
		cancel()
		cancelA()
	})
	return ctx
}

// outputs holds each running browser's process output (*console), by its
// *chromedp.Browser.
var outputs sync.Map

// NetworkServiceCrashed reports whether the network service of ctx's
// browser crashed and was restarted (its output says so). Chromium's
// cookies live there: a restarted one has only what it had written to the
// profile, none of an incognito context's, so its pages' logins are gone.
func NetworkServiceCrashed(ctx context.Context) bool {
	c := chromedp.FromContext(ctx)
	if c == nil {
		return false
	}
	out, ok := outputs.Load(c.Browser)
	if !ok {
		return false
	}
	con := out.(*console)
	con.mu.Lock()
	defer con.mu.Unlock()
	return con.networkCrashed
}

// Incognito opens a tab of ctx's browser in a browser context of its own:
// its own cookies and storage, as another person on another computer, for
// the cost of a tab instead of a second browser.
func Incognito(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	c, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(c); err != nil {
		cancel()
		t.Fatalf("new browser context: %v", err)
	}
	t.Cleanup(cancel)
	return c
}

// Run runs one browser action with a time limit; an error fails the test.
func Run[T any](t testing.TB, ctx context.Context, d time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// Eval evaluates js in the page, awaiting a promise, within 10 s.
func Eval[T any](ctx context.Context, js string) (T, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// Login fills the relay's login form at base (https://HOST:PORT) as a
// person would and submits it.
func Login(t testing.TB, ctx context.Context, base, user, password string) {
	t.Helper()
	Run(t, ctx, 20*time.Second, chromedp.Navigate(base+"/login"))
	fillLogin(t, ctx, user, password)
}

// LogInHere logs in on the login page the browser shows (one a page sent
// it to, with where to go back to) and waits until the relay lets it past.
func LogInHere(t testing.TB, ctx context.Context, user, password string) {
	t.Helper()
	fillLogin(t, ctx, user, password)
	awayFromLogin(t, ctx, user)
}

func fillLogin(t testing.TB, ctx context.Context, user, password string) {
	t.Helper()
	Run(t, ctx, 20*time.Second, chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`form button, form input[type="submit"]`)),
	))
}

// LogIn logs in through the form and waits until the relay lets the
// browser past the login page (the session cookie is set then).
func LogIn(t testing.TB, ctx context.Context, base, user, password string) {
	t.Helper()
	Login(t, ctx, base, user, password)
	awayFromLogin(t, ctx, user)
}

func awayFromLogin(t testing.TB, ctx context.Context, user string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		path, err := Eval[string](ctx, "location.pathname + location.search")
		if err == nil && !strings.HasPrefix(path, "/login") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still at %s after logging in as %s", path, user)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stats are the figures of the watch page's player, window.quicastStats().
type Stats struct {
	State               string  `json:"state"`
	Muted               bool    `json:"muted"`
	Reason              string  `json:"reason"`
	Sessions            int     `json:"sessions"`   // WebTransport sessions opened
	Broadcasts          int     `json:"broadcasts"` // catalogs: the sender published (again)
	Viewers             int     `json:"viewers"`
	AVSkewMS            float64 `json:"avSkewMs"`    // flash seen − beep heard (test source): positive, audio leads
	AVSkewP95MS         float64 `json:"avSkewP95Ms"` // of the magnitudes, last 60 pairs
	AVSkewPairs         int     `json:"avSkewPairs"`
	AVSkewClockMS       float64 `json:"avSkewClockMs"` // the same from the player's clocks
	MouthToEarMS        float64 `json:"mouthToEarMs"`  // sender's capture of the sound heard now → now
	VideoCodec          string  `json:"videoCodec"`
	AudioCodec          string  `json:"audioCodec"`
	Width               int     `json:"width"`  // pixels
	Height              int     `json:"height"` // pixels
	VideoFramesDecoded  int     `json:"videoFramesDecoded"`
	VideoFramesRendered int     `json:"videoFramesRendered"`
	VideoFramesCopied   int     `json:"videoFramesCopied"` // of those rendered, put on the canvas by copyTo (static/render.js)
	VideoFramesDropped  int     `json:"videoFramesDropped"`
	AudioFramesDecoded  int     `json:"audioFramesDecoded"`
	AudioSamplesPlayed  int     `json:"audioSamplesPlayed"`
	AudioUnderruns      int     `json:"audioUnderruns"`
	BitrateKbps         float64 `json:"bitrateKbps"`
	PlayoutDelayMS      float64 `json:"playoutDelayMs"` // audio buffered in the worklet
	TargetDelayMS       float64 `json:"targetDelayMs"`  // what the latency controller holds it at
	TargetMarginMS      float64 `json:"targetMarginMs"` // of the target: added for underruns
	TargetSyncMS        float64 `json:"targetSyncMs"`   // of the target: added for video later than the audio
	JitterMS            float64 `json:"jitterMs"`       // interarrival jitter of the audio (RFC 3550 §6.4.1)
	OutputLatencyMS     float64 `json:"outputLatencyMs"`
	AudioSamplesTrimmed int     `json:"audioSamplesTrimmed"` // skipped in silence or played fast to keep the target
	// Glass-to-glass: capture at the sender to drawn on the canvas.
	LatencyMS          float64 `json:"latencyMs"`
	LatencyP50MS       float64 `json:"latencyP50Ms"`
	LatencyP95MS       float64 `json:"latencyP95Ms"`
	LatencyNetworkMS   float64 `json:"latencyNetworkMs"` // capture → arrival (median)
	LatencyDecodeMS    float64 `json:"latencyDecodeMs"`  // arrival → decoded
	LatencyPlayoutMS   float64 `json:"latencyPlayoutMs"` // decoded → drawn
	TimeToFirstFrameMS float64 `json:"timeToFirstFrameMs"`
	// Continuity since the broadcast began or quicastResetStats().
	VideoFramesShown      int     `json:"videoFramesShown"`
	VideoFramesExpected   int     `json:"videoFramesExpected"` // captured over the same media time
	LongestFreezeMS       float64 `json:"longestFreezeMs"`
	Freezes               int     `json:"freezes"` // gaps over 200 ms between frames shown
	VideoFramesLost       int     `json:"videoFramesLost"`
	VideoFramesAssembled  int     `json:"videoFramesAssembled"`
	VideoFramesAwaitKey   int     `json:"videoFramesAwaitingKey"`
	VideoDecoderFull      int     `json:"videoDecoderFull"`
	VideoFramesThinned    int     `json:"videoFramesThinned"`      // non-reference frames left out, the decoder behind
	VideoFramesNonRef     int     `json:"videoFramesNonReference"` // complete frames with VP8's N bit
	VideoGroupsLost       int     `json:"videoGroupsLost"`
	AudioSamplesStarved   int     `json:"audioSamplesStarved"`   // silence after running dry
	AudioSamplesConcealed int     `json:"audioSamplesConcealed"` // lost packets' time filled in
	AudioShared           bool    `json:"audioShared"`           // sound handed to the worklet through shared memory
	InWorker              bool    `json:"inWorker"`              // a room page's player running in static/players.js's worker
	Drawing               string  `json:"drawing"`               // where the frames are drawn: "worker" (static/render.js) or "here" (the player's thread)
	PacketsLost           int     `json:"packetsLost"`           // audio, given up by the jitter buffer
	PacketsLate           int     `json:"packetsLate"`           // audio, come after the jitter buffer gave them up
	AudioDecodeQueue      int     `json:"audioDecodeQueue"`      // audio packets in the AudioDecoder, not decoded yet
	AudioDecoderBehind    int     `json:"audioDecoderBehind"`    // audio packets dropped for the decoder being too far behind
	DatagramsDropped      int     `json:"datagramsDropped"`      // audio datagrams with no room left in the player's buffer between two reads
	KeyframeRequests      int     `json:"keyframeRequests"`
	DecodeErrors          int     `json:"decodeErrors"`
	// Gaps on the sound's way to the playout ring: [over 50 ms, over
	// 100 ms, longest ms] between audio datagrams reaching the player,
	// its ticks, packets handed to the decoder (since the stats were
	// reset); [over 50 ms, over 100 ms] between packets into the decoding
	// worker and sound out of it (since it started); [over 50 ms, over
	// 100 ms, longest ms] between video frames handed to the
	// VideoDecoder and between its outputs.
	Stalls struct {
		Arrival, Tick, Hand   [3]float64
		DecoderIn, DecoderOut [2]int
		VideoIn, VideoOut     [3]float64
	} `json:"stalls"`
	VideoDecodeQueueMax int            `json:"videoDecodeQueueMax"`
	GoRuntime           map[string]any `json:"goRuntime"` // the player's thread's Go runtime: gcs, pauseMs, heapBytes, gcFraction // the most frames in the VideoDecoder's queue (since reset)
	// The playout's arrivals played at fixed targets instead:
	// [target ms, samples starved, underruns] for each (since the page
	// opened).
	FixedTargets [][3]int `json:"fixedTargets"`
}

func (s Stats) String() string {
	return fmt.Sprintf("state=%q muted=%v sessions=%d broadcasts=%d video=%s %dx%d decoded=%d rendered=%d (copied %d) dropped=%d audio=%s decoded=%d played=%d underruns=%d %.0f kbit/s playout %.0f ms (target %.0f, trimmed %d)",
		s.State, s.Muted, s.Sessions, s.Broadcasts, s.VideoCodec, s.Width, s.Height, s.VideoFramesDecoded, s.VideoFramesRendered, s.VideoFramesCopied, s.VideoFramesDropped,
		s.AudioCodec, s.AudioFramesDecoded, s.AudioSamplesPlayed, s.AudioUnderruns, s.BitrateKbps,
		s.PlayoutDelayMS, s.TargetDelayMS, s.AudioSamplesTrimmed)
}

// PlayerStats reads the player's figures from a watch page.
func PlayerStats(ctx context.Context) (Stats, error) {
	return Eval[Stats](ctx, `window.quicastStats ? window.quicastStats() : {state: "no quicastStats"}`)
}
