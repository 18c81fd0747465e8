package main

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/gio-ui/internal/calltest"
	"github.com/quicast/quicast/relay/e2e/browser"
	"github.com/quicast/quicast/relay/relaytest"
)

// xwin is the real window under Xvfb, started in call mode.
type xwin struct {
	t       testing.TB
	display string
	logs    *syncLog
	pid     int
}

// syncLog is a window's log, written by its process's copier.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCallWindow starts the window (bin) on display in language lang and
// in call mode, set up for room on r as user (the password from the
// environment, as a person would keep it out of the settings), with the
// test picture and tone. It ends with the test.
func startCallWindow(t testing.TB, bin, display string, r *relaytest.Relay, lang, room, user, password string) *xwin {
	t.Helper()
	return startWindow(t, bin, display, fmt.Sprintf(
		`{"mode":"call","relay":%q,"caFile":%q,"room":%q,"callUser":%q,"camera":"test","microphone":"test","size":"640x480","fps":15}`,
		r.URL, r.CAFile(), room, user), []string{"QUICAST_VIEWER_PASSWORD=" + password}, "-lang", lang)
}

// startWindow starts the window (bin) on display with settings (JSON),
// env and args, logging (-v) and without internet probes; it ends with
// the test. A window that quits before it appears is started once more
// (its log kept): in the four-person benchmark a window once quit at
// start, unable to use its virtual display (and waiting for it took the
// whole minute).
func startWindow(t testing.TB, bin, display, settings string, env []string, args ...string) *xwin {
	t.Helper()
	cfg := t.TempDir()
	os.MkdirAll(filepath.Join(cfg, "quicast"), 0o700)
	os.WriteFile(filepath.Join(cfg, "quicast", "settings.json"), []byte(settings), 0o600)
	for attempt := 1; ; attempt++ {
		w, exited := launchWindow(t, bin, display, cfg, env, args)
		// A minute: on a loaded machine (the four-person benchmark, the
		// whole suite under -race) a window once took longer than 30 s
		// to appear.
		if poll(time.Minute, func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			c := exec.Command("xdotool", "search", "--name", "^quicast$")
			c.Env = append(os.Environ(), "DISPLAY="+display)
			return c.Run() == nil
		}) {
			select {
			case <-exited:
				if attempt < 2 {
					t.Logf("the window on %s quit before it appeared; starting it again. Its log:\n%s", display, w.logs.String())
					continue
				}
				t.Fatalf("the window on %s quit before it appeared, twice", display)
			default:
				return w
			}
		}
		t.Fatal("timed out waiting for the window")
	}
}

// launchWindow starts one window process; exited closes when it ends.
func launchWindow(t testing.TB, bin, display, cfg string, env, args []string) (*xwin, chan struct{}) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-probes", "", "-v"}, args...)...)
	cmd.Env = append(append(os.Environ(), "DISPLAY="+display, "XDG_CONFIG_HOME="+cfg, "XDG_RUNTIME_DIR="+t.TempDir(), "WAYLAND_DISPLAY="), env...)
	logs := &syncLog{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("window log (%s):\n%s", display, logs.String())
		}
	})
	return &xwin{t: t, display: display, logs: logs, pid: cmd.Process.Pid}, exited
}

func (w *xwin) xdo(args ...string) {
	w.t.Helper()
	c := exec.Command("xdotool", args...)
	c.Env = append(os.Environ(), "DISPLAY="+w.display)
	if out, err := c.CombinedOutput(); err != nil {
		w.t.Fatalf("xdotool %v: %v\n%s", args, err, out)
	}
}

// startCall clicks Start call, bottom left, until live reports the call
// is on: again every 3 s while the button there is still the blue Start
// call (the first click may come before the window takes input), never
// once it is the red Hang up of a call on its way.
func (w *xwin) startCall(live func() bool) {
	w.t.Helper()
	shot := filepath.Join(w.t.TempDir(), "button.png")
	waitUntil(w.t, "a click on Start call to go live", func() bool {
		if c := color.RGBAModel.Convert(grab(w.t, w.display, shot).At(18, 676)).(color.RGBA); c.B > 0xa0 && c.R < 0x60 {
			w.xdo("mousemove", "40", "690", "click", "1")
		}
		return poll(3*time.Second, live)
	})
}

// hangUp clicks Hang up, where Start call was.
func (w *xwin) hangUp() { w.xdo("mousemove", "40", "690", "click", "1") }

// hangUpUntil clicks Hang up until over reports the call over: again
// every 3 s while the button there is still the red Hang up.
func (w *xwin) hangUpUntil(over func() bool) {
	w.t.Helper()
	shot := filepath.Join(w.t.TempDir(), "button.png")
	waitUntil(w.t, "a click on Hang up to end the call", func() bool {
		if c := color.RGBAModel.Convert(grab(w.t, w.display, shot).At(18, 676)).(color.RGBA); c.R > 0xa0 && c.B < 0x60 {
			w.hangUp()
		}
		return poll(3*time.Second, over)
	})
}

func artifacts(t testing.TB) string {
	if dir := os.Getenv("QUICAST_ARTIFACTS"); dir != "" {
		return dir
	}
	return t.TempDir()
}

// TestCallScreenshot: the real window under Xvfb, in English and in
// Chinese, in call mode, joins a room where the other participant (a test
// broadcast on the same relay) is: Start call (clicked with xdotool) makes
// this side live, and the window shows the other side's picture with its
// own small in a corner — photographed, and the colour bars found across
// the top of the picture box, where only theirs is; Hang up ends this
// side's stream.
func TestCallScreenshot(t *testing.T) {
	bin, display := windowUnderXvfb(t, "xdotool", "ffmpeg")
	r := relaytest.Start(t)
	r.AddRoom(t, "team")
	r.AddUser(t, "me", "my password")
	r.AddUser(t, "them", "their password")
	j := calltest.Join(t, r, "team", "them", "their password")
	calltest.Publish(t, r, j.Stream, j.PublishKey, 640, 480, 15)

	for _, lang := range []string{"en", "zh"} {
		t.Run(lang, func(t *testing.T) {
			w := startCallWindow(t, bin, display, r, lang, "team", "me", "my password")
			w.startCall(func() bool { return r.Live(t, "team.me") })
			path := filepath.Join(artifacts(t), "quicast-call-"+lang+".png")
			var img image.Image
			if !poll(30*time.Second, func() bool {
				img = grab(t, display, path)
				return barsRight(img) >= 6
			}) {
				t.Fatalf("their picture is not in the window: %d colours across the status panel (%s)", barsRight(img), path)
			}
			t.Logf("screenshot: %s", path)
			w.hangUp()
			waitUntil(t, "the relay to see this side's stream end", func() bool { return !r.Live(t, "team.me") })
		})
	}
}

// TestCallWithBrowser: a desktop participant (the window under Xvfb, test
// picture and tone) and a browser participant (headless Chromium, its fake
// camera and microphone) in one room through the relay: the browser plays
// the window's picture and sound, its beep included, and the window shows
// the browser's green picture; both photographed. The window hanging up is
// gone from the browser's page.
func TestCallWithBrowser(t *testing.T) {
	bin, display := windowUnderXvfb(t, "xdotool", "ffmpeg")
	r := relaytest.Start(t)
	r.AddRoom(t, "team")
	r.AddUser(t, "me", "my password")
	r.AddUser(t, "web", "the browser's password")

	w := startCallWindow(t, bin, display, r, "en", "team", "me", "my password")
	w.startCall(func() bool { return r.Live(t, "team.me") })

	ctx := browser.New(t, browser.FakeMedia())
	browser.LogIn(t, ctx, r.URL, "web", "the browser's password")
	browser.Run(t, ctx, 20*time.Second, chromedp.Navigate(r.URL+"/room/team?size=320x180"))
	browser.Run(t, ctx, 20*time.Second, chromedp.Click(chromedp.CSS("#join")))
	eval := func(js string) map[string]browser.Stats {
		m, _ := browser.Eval[map[string]browser.Stats](ctx, js)
		return m
	}
	var seen browser.Stats
	if !poll(60*time.Second, func() bool {
		seen = eval(`window.quicastRoomStats ? window.quicastRoomStats() : {}`)["team.me"]
		return seen.State == "playing" && seen.VideoFramesRendered >= 30 && seen.AudioSamplesPlayed >= 48000
	}) {
		t.Fatalf("the browser does not see and hear the window: %v", seen)
	}
	// The window's test tone beeps once a second.
	if !poll(20*time.Second, func() bool {
		db, err := browser.Eval[float64](ctx, `window.quicastRoomLevel ? window.quicastRoomLevel("team.me") : -200`)
		return err == nil && db > -30
	}) {
		t.Error("the browser never heard the window's beep")
	}
	t.Logf("the browser plays the window: %v; glass-to-glass p50 %.0f ms, A/V skew %.0f ms", seen, seen.LatencyP50MS, seen.AVSkewMS)

	// The browser publishes into the room (its camera and microphone on
	// the relay), then the window shows it.
	var pub map[string]any
	if !poll(60*time.Second, func() bool {
		pub, _ = browser.Eval[map[string]any](ctx, `window.quicastPublishStats ? window.quicastPublishStats() : {}`)
		return pub["state"] == "live" && r.Live(t, "team.web")
	}) {
		t.Fatalf("the browser does not publish into the room: %v", pub)
	}
	path := filepath.Join(artifacts(t), "quicast-call-browser-window.png")
	var img image.Image
	if !poll(60*time.Second, func() bool {
		img = grab(t, display, path)
		return greenShare(img) > 0.6
	}) {
		t.Fatalf("the browser's picture is not in the window: %.0f %% green (%s); the browser publishes %v", greenShare(img)*100, path, pub)
	}
	t.Logf("window: %s", path)

	// A third participant (a test broadcast) comes: the window shows
	// both others side by side, the browser's green and the test card.
	r.AddUser(t, "them", "their password")
	j := calltest.Join(t, r, "team", "them", "their password")
	calltest.Publish(t, r, j.Stream, j.PublishKey, 320, 240, 15)
	grid := filepath.Join(artifacts(t), "quicast-call-grid.png")
	if !poll(60*time.Second, func() bool {
		img = grab(t, display, grid)
		return gridOfTwo(img)
	}) {
		t.Fatalf("the window does not show both others side by side (%s)", grid)
	}
	t.Logf("grid: %s", grid)

	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		p := filepath.Join(artifacts(t), "quicast-call-browser-page.png")
		os.WriteFile(p, png, 0o644)
		t.Logf("browser: %s", p)
	}

	w.hangUp()
	if !poll(20*time.Second, func() bool {
		n, err := browser.Eval[int](ctx, `document.querySelectorAll('.tile[data-stream="team.me"]').length`)
		return err == nil && n == 0
	}) {
		t.Error("the window hung up but the browser still shows it")
	}
}

// greenShare is the share of the picture box's middle row that is green:
// Chromium's fake camera is a green picture.
func greenShare(img image.Image) float64 {
	b := img.Bounds()
	return greenIn(img, b.Min.X+b.Dx()/2+20, b.Max.X-20, b.Min.Y+240)
}

// gridOfTwo tells whether the picture box shows two pictures side by
// side, one green (the browser's fake camera), the other the test card's
// bars.
func gridOfTwo(img image.Image) bool {
	b := img.Bounds()
	y, left, mid, right := b.Min.Y+240, b.Min.X+b.Dx()/2+20, b.Min.X+b.Dx()*3/4, b.Max.X-20
	return greenIn(img, left, mid, y) > 0.6 && coloursIn(img, mid, right, y) >= 5 ||
		greenIn(img, mid, right, y) > 0.6 && coloursIn(img, left, mid, y) >= 5
}

// greenIn is the share of row y from x0 to x1 that is green.
func greenIn(img image.Image, x0, x1, y int) float64 {
	n, green := 0, 0
	for x := x0; x < x1; x += 4 {
		c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
		n++
		if c.G > 40 && int(c.G) > 2*int(c.R) && int(c.G) > 2*int(c.B) {
			green++
		}
	}
	return float64(green) / float64(max(1, n))
}

// barsRight counts the distinct colours along a row near the top of the
// status panel's picture box: the test card's bars make eight or so, a
// blank or grey box one or two.
func barsRight(img image.Image) int {
	b := img.Bounds()
	return coloursIn(img, b.Min.X+b.Dx()/2+20, b.Max.X-20, b.Min.Y+160)
}

// coloursIn counts the distinct colours (3 bits a channel) along row y
// from x0 to x1.
func coloursIn(img image.Image, x0, x1, y int) int {
	seen := map[[3]uint8]bool{}
	for x := x0; x < x1; x += 6 {
		c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
		seen[[3]uint8{c.R >> 5, c.G >> 5, c.B >> 5}] = true
	}
	return len(seen)
}
