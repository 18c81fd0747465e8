package e2e

import (
	"context"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
)

// addUser adds a viewer account on the relay's data directory, as the
// README says: the password on stdin.
func (r *relay) addUser(t testing.TB, name, password string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "quicast-relay"), "-data", r.data, "user", "add", name)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add %s: %v\n%s", name, err, out)
	}
}

func (r *relay) addRoom(t testing.TB, name string) {
	t.Helper()
	if out, err := exec.Command(filepath.Join(binDir, "quicast-relay"), "-data", r.data, "room", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("room add %s: %v\n%s", name, err, out)
	}
}

// publishStats are the room page's own figures, window.quicastPublishStats().
type publishStats struct {
	State        string `json:"state"`
	Message      string `json:"message"`
	Stream       string `json:"stream"`
	VideoFrames  int    `json:"videoFrames"`
	Keyframes    int    `json:"keyframes"`
	AudioPackets int    `json:"audioPackets"`
	AudioSkipped int    `json:"audioSkipped"`
	// Gaps [over 50 ms, over 100 ms, longest ms] between microphone
	// chunks, Opus packets out of the encoder, audio packets sent.
	CaptureStalls    [3]float64 `json:"captureStalls"`
	EncodeStalls     [3]float64 `json:"encodeStalls"`
	SendStalls       [3]float64 `json:"sendStalls"`
	FramesSkipped    int        `json:"framesSkipped"`
	KeyframeRequests int        `json:"keyframeRequests"`
	Viewers          int        `json:"viewers"`
	Width            int        `json:"width"`
	Height           int        `json:"height"`
	Worker           bool       `json:"worker"` // published from static/publisher.js's worker
	CameraEnded      bool       `json:"cameraEnded"`
}

// sameColours checks, on a screenshot of a room page with one other
// participant, that the other's picture has the colours of this side's
// own: both are Chromium's fake camera, whose background is one green. A
// picture decoded with the wrong colour space (BT.709 for BT.601) draws it
// far darker.
func sameColours(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	rects, err := eval[[]struct{ X, Y, Width, Height float64 }](ctx, `[...document.querySelectorAll('.tile')].filter(t => t.offsetParent).map(t => t.getBoundingClientRect().toJSON())`)
	if err != nil || len(rects) != 2 || path == "" {
		t.Errorf("no two tiles to compare (%d, %v)", len(rects), err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Left of the middle, below the clock, away from the moving disc
	// and the name.
	var c [2][3]int
	for i, r := range rects {
		cr, cg, cb, _ := img.At(int(r.X+0.06*r.Width), int(r.Y+0.6*r.Height)).RGBA()
		c[i] = [3]int{int(cr >> 8), int(cg >> 8), int(cb >> 8)}
	}
	for k := range 3 {
		if d := c[0][k] - c[1][k]; d > 24 || d < -24 {
			t.Errorf("the other's picture is drawn in other colours than this side's own: %v against %v (%s)", c[1], c[0], path)
			return
		}
	}
	t.Logf("the background green, own and the other's: %v, %v", c[0], c[1])
}

// joinRoom opens the room page in ctx (a browser with fake devices, or an
// incognito tab of one) logged in as user and clicks "Join with camera and
// microphone"; it returns once the page publishes.
func joinRoom(t testing.TB, ctx context.Context, r *relay, room, user, password string) context.Context {
	t.Helper()
	browser.LogIn(t, ctx, r.base(), user, password)
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/room/"+room+"?size="+callSize+""))
	run(t, ctx, 20*time.Second, chromedp.Click(chromedp.CSS("#join")))
	var last publishStats
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		s, err := eval[publishStats](ctx, `window.quicastPublishStats ? window.quicastPublishStats() : {state: "not loaded"}`)
		last = s
		return err == nil && s.State == "live" && s.VideoFrames > 0 && s.AudioPackets > 0, err
	}); err != nil {
		screenshot(t, ctx, "fail-join-"+user)
		t.Fatalf("%s did not go live in room %s: %+v (%v)", user, room, last, err)
	}
	return ctx
}

// otherStats returns the player figures of the one other participant the
// room page shows, and their stream.
func otherStats(ctx context.Context) (string, playerStats, error) {
	m, err := eval[map[string]*playerStats](ctx, `window.quicastRoomStats ? window.quicastRoomStats() : {}`)
	if err != nil {
		return "", playerStats{}, err
	}
	for stream, s := range m {
		if s != nil {
			return stream, *s, nil
		}
	}
	return "", playerStats{}, nil
}

// teamRelay starts a relay with the room "team" and two users, alice and
// bob, whose passwords are "alice's password" and "bob's password".
func teamRelay(t testing.TB) *relay {
	t.Helper()
	r := startRelay(t)
	r.addRoom(t, "team")
	r.addUser(t, "alice", "alice's password")
	r.addUser(t, "bob", "bob's password")
	return r
}

// TestBrowserCall: two people in two browsers (Chromium's fake camera
// and microphone) call each other through the relay, as phones do: alice
// joins a room and calls bob by his name; bob's stream list rings with her
// name; he answers, which joins him; each page then shows the other
// participant with frames drawn and sound played, and the sound is the
// other side's beep, not silence; a participant who leaves is gone from
// the other's page. A call bob declines tells alice so.
func TestBrowserCall(t *testing.T) {
	r := teamRelay(t)
	// One browser, two people: each in a browser context of their own.
	// The profile directory names its processes (browser.WorkerPriorities).
	profile := t.TempDir()
	first := browser.New(t, browser.FakeMedia(), chromedp.UserDataDir(profile))
	alice := joinRoom(t, first, r, "team", "alice", "alice's password")
	bob := browser.Incognito(t, first)
	browser.LogIn(t, bob, r.base(), "bob", "bob's password")
	run(t, bob, 20*time.Second, chromedp.Navigate(r.base()+"/"))
	if _, err := eval[any](bob, `localStorage.setItem('quicast.size', '`+callSize+`')`); err != nil {
		t.Fatal(err)
	}
	callBob := func() {
		t.Helper()
		// Not ringing (a declined call has stopped) before the next.
		if err := waitFor(bob, 20*time.Second, func() (bool, error) {
			return eval[bool](bob, `document.getElementById('ringing').hidden`)
		}); err != nil {
			t.Fatalf("bob's page still rings: %v", err)
		}
		run(t, alice, 10*time.Second, chromedp.Steps(
			chromedp.SetValue(chromedp.CSS(`#invite-form input[name="user"]`), "bob"),
			chromedp.Click(chromedp.CSS(`#invite-form button`))))
		if err := waitFor(bob, 30*time.Second, func() (bool, error) {
			txt, err := eval[string](bob, `(document.getElementById('ringing') || {}).innerText || ''`)
			return err == nil && strings.Contains(txt, "alice is calling you to room “team”"), err
		}); err != nil {
			screenshot(t, bob, "fail-ringing")
			t.Fatalf("bob's page does not ring: %v", err)
		}
	}
	inviteStatus := func(want string) {
		t.Helper()
		if err := waitFor(alice, 20*time.Second, func() (bool, error) {
			txt, err := eval[string](alice, `document.getElementById('invite-status').textContent`)
			return err == nil && strings.Contains(txt, want), err
		}); err != nil {
			t.Errorf("alice's page never said %q: %v", want, err)
		}
	}
	callBob()
	run(t, bob, 10*time.Second, chromedp.Click(chromedp.CSS(`#ringing button.danger`)))
	inviteStatus("bob declined the call.")
	callBob()
	screenshot(t, bob, "call-ringing")
	run(t, bob, 10*time.Second, chromedp.Click(chromedp.CSS(`#ringing button.answer`)))
	if err := waitFor(bob, 30*time.Second, func() (bool, error) {
		s, err := eval[publishStats](bob, `window.quicastPublishStats ? window.quicastPublishStats() : {state: "not loaded"}`)
		return err == nil && s.State == "live" && s.VideoFrames > 0 && s.AudioPackets > 0, err
	}); err != nil {
		screenshot(t, bob, "fail-answer")
		t.Fatalf("bob answered but is not in the room: %v", err)
	}
	if s, _ := eval[publishStats](bob, `window.quicastPublishStats()`); !s.Worker {
		t.Errorf("bob publishes from the page's main thread, not from a worker: %+v", s)
	}
	inviteStatus("bob answered")

	for _, side := range []struct {
		name, other string
		ctx         context.Context
	}{{"alice", "bob", alice}, {"bob", "alice", bob}} {
		var stream string
		var last playerStats
		err := waitFor(side.ctx, 60*time.Second, func() (bool, error) {
			s, st, err := otherStats(side.ctx)
			stream, last = s, st
			return err == nil && st.State == "playing" && st.VideoFramesRendered >= 30 && st.AudioSamplesPlayed >= 48000, err
		})
		if err != nil {
			screenshot(t, side.ctx, "fail-call-"+side.name)
			t.Fatalf("%s does not see and hear %s: %q %v (%v)", side.name, side.other, stream, last, err)
		}
		if stream != "team."+side.other || last.VideoCodec != "vp8" || last.AudioCodec != "opus" {
			t.Errorf("%s's page shows %q: %v", side.name, stream, last)
		}
		if !last.InWorker {
			t.Errorf("%s's page plays %s on its main thread, not in the players worker", side.name, side.other)
		}
		// The browser's encoder makes two temporal layers (L1T2): the
		// upper layer's frames come with VP8's N bit.
		if last.VideoFramesNonRef < last.VideoFramesAssembled/3 {
			t.Errorf("%s: %d of %d frames from %s came with the N bit: want about every other one", side.name, last.VideoFramesNonRef, last.VideoFramesAssembled, side.other)
		}
		// The fake microphone beeps: the other side's sound is heard, not
		// silence, on the level meter of their tile.
		if err := waitFor(side.ctx, 20*time.Second, func() (bool, error) {
			db, err := eval[float64](side.ctx, `window.quicastRoomLevel ? window.quicastRoomLevel("team.`+side.other+`") : -200`)
			return err == nil && db > -30, err
		}); err != nil {
			t.Errorf("%s never heard %s's beep: %v", side.name, side.other, err)
		}
		// …and their tile is outlined as speaking while it sounds.
		if err := waitFor(side.ctx, 20*time.Second, func() (bool, error) {
			return eval[bool](side.ctx, `!!document.querySelector('.tile.speaking[data-stream="team.`+side.other+`"]')`)
		}); err != nil {
			t.Errorf("%s's tile is never outlined as speaking on %s's page: %v", side.other, side.name, err)
		}
		t.Logf("%s sees %s: %v; glass-to-glass p50 %.0f ms p95 %.0f ms", side.name, side.other, last, last.LatencyP50MS, last.LatencyP95MS)
	}
	if n, _ := eval[int](alice, `document.querySelectorAll('.tile[data-stream]').length`); n != 1 {
		t.Errorf("alice's page shows %d participants, want bob only", n)
	}
	// Each page's players worker runs at the priority the browser gives
	// a live track's reader, as its publishing worker does (static/room.js):
	// four raised workers in all, where the browser raises any.
	var nices []int
	raised := func() int {
		nices = browser.WorkerPriorities(profile)
		n := 0
		for _, v := range nices {
			if v < 0 {
				n++
			}
		}
		return n
	}
	if err := waitFor(alice, 10*time.Second, func() (bool, error) { return raised() >= 4, nil }); err != nil {
		if raised() == 0 {
			t.Logf("this browser runs every worker at the default priority (nice %v)", nices)
		} else {
			t.Errorf("the workers' priorities (nice, each): %v; want the two publishing and the two players workers raised", nices)
		}
	}
	// In the call, its duration and the network's figures: the bitrate
	// sent, the RTT and the loss from the relay's reception reports.
	callLine := regexp.MustCompile(`^In the room as alice\. · \d+:\d\d · \d+ kbit/s sent · RTT \d+ ms · \d+\.\d % lost$`)
	var line string
	if err := waitFor(alice, 20*time.Second, func() (bool, error) {
		var err error
		line, err = eval[string](alice, `document.getElementById('call-status').textContent`)
		return err == nil && callLine.MatchString(line) && !strings.Contains(line, " 0 kbit/s"), err
	}); err != nil {
		t.Errorf("alice's status line in the call: %q (%v)", line, err)
	}
	t.Logf("alice's status line: %q", line)
	sameColours(t, alice, screenshot(t, alice, "call-alice"))
	screenshot(t, bob, "call-bob")

	run(t, bob, 10*time.Second, chromedp.Click(chromedp.CSS("#leave")))
	if err := waitFor(alice, 20*time.Second, func() (bool, error) {
		n, err := eval[int](alice, `document.querySelectorAll('.tile[data-stream]').length`)
		return err == nil && n == 0, err
	}); err != nil {
		t.Errorf("bob left but alice's page still shows him: %v", err)
	}
	if s, _ := eval[publishStats](bob, `window.quicastPublishStats()`); s.State != "left" {
		t.Errorf("bob after leaving: %+v", s)
	}
}

// callSize is the camera size the call tests ask for: small enough that
// two participants' encoding and decoding fit this 2-core machine next to
// the relay.
var callSize = "320x180"

// TestBrowserCallSurvivesRelayRestart: two browsers in a call, the relay
// restarts under them — first stopped (it tells everyone), then killed (no
// goodbye). Each page, without a reload, says it reconnects, publishes
// again from its worker by itself, and sees and hears the other again.
// Then one leaves and joins again.
func TestBrowserCallSurvivesRelayRestart(t *testing.T) {
	r := teamRelay(t)
	first := browser.New(t, browser.FakeMedia())
	alice := joinRoom(t, first, r, "team", "alice", "alice's password")
	bob := joinRoom(t, browser.Incognito(t, first), r, "team", "bob", "bob's password")
	type side struct {
		name, password string
		ctx            context.Context
	}
	sides := []side{{"alice", "alice's password", alice}, {"bob", "bob's password", bob}}
	// Chromium's network service has been seen to crash when the relay is
	// killed under a call (its output says "Network service crashed"); the
	// restarted service has lost the login cookie, so the page rightly goes
	// to the login page. A person logs in again there and is taken back
	// into the call; so does the test, then only.
	relogin := func(sd side) bool {
		path, err := eval[string](sd.ctx, `location.pathname`)
		if err != nil || path != "/login" || !browser.NetworkServiceCrashed(sd.ctx) {
			return false
		}
		t.Logf("%s's browser: its network service crashed and lost the login; logging in again", sd.name)
		browser.LogInHere(t, sd.ctx, sd.name, sd.password)
		return true
	}
	seesAgain := func(what string) {
		t.Helper()
		for _, side := range sides {
			// The other's tile may be new (the counters start over):
			// 30 frames and a second of sound more than the least seen.
			var base, last playerStats
			first := true
			err := waitFor(side.ctx, 60*time.Second, func() (bool, error) {
				_, s, err := otherStats(side.ctx)
				if err != nil {
					return false, err
				}
				last = s
				if first || s.VideoFramesRendered < base.VideoFramesRendered || s.AudioSamplesPlayed < base.AudioSamplesPlayed {
					base, first = s, false
				}
				return s.State == "playing" && s.VideoFramesRendered >= base.VideoFramesRendered+30 &&
					s.AudioSamplesPlayed >= base.AudioSamplesPlayed+48000, nil
			})
			if err != nil {
				screenshot(t, side.ctx, "fail-restart-"+side.name)
				t.Fatalf("%s does not see and hear the other %s: %v (%v)", side.name, what, last, err)
			}
		}
	}
	publishing := func(ctx context.Context, cond func(publishStats) bool) (publishStats, error) {
		var last publishStats
		err := waitFor(ctx, 60*time.Second, func() (bool, error) {
			s, err := eval[publishStats](ctx, `window.quicastPublishStats ? window.quicastPublishStats() : {state: "not loaded"}`)
			last = s
			return err == nil && cond(s), err
		})
		return last, err
	}
	seesAgain("before the relay restarts")

	for _, how := range []string{"stopped", "killed"} {
		before := map[string]publishStats{}
		for _, side := range sides {
			before[side.name], _ = eval[publishStats](side.ctx, `window.quicastPublishStats()`)
		}
		if how == "stopped" {
			r.stop()
		} else {
			r.kill()
		}
		if how == "stopped" {
			for _, side := range sides {
				if s, err := publishing(side.ctx, func(s publishStats) bool { return s.State == "reconnecting" }); err != nil {
					t.Errorf("%s's page does not say it reconnects while the relay is down: %+v (%v)", side.name, s, err)
				}
			}
		}
		back := r.restart(t)
		for _, side := range sides {
			b := before[side.name]
			s, err := publishing(side.ctx, func(s publishStats) bool {
				if s.State == "not loaded" && relogin(side) {
					b = publishStats{} // a new page
				}
				return s.State == "live" && s.Worker && s.AudioPackets > b.AudioPackets+100 && s.VideoFrames > b.VideoFrames+10
			})
			if err != nil {
				screenshot(t, side.ctx, "fail-republish-"+side.name)
				t.Fatalf("%s does not publish again after the relay was %s: %+v (%v)", side.name, how, s, err)
			}
			t.Logf("relay %s: %s publishes again %v after it was back: %s", how, side.name, time.Since(back).Round(10*time.Millisecond), s.Message)
		}
		seesAgain("after the relay was " + how + " and restarted")
	}
	screenshot(t, alice, "call-after-restarts")

	// Leaving ends the publishing worker; joining again starts another.
	run(t, alice, 10*time.Second, chromedp.Click(chromedp.CSS("#leave")))
	if s, err := publishing(alice, func(s publishStats) bool { return s.State == "left" }); err != nil {
		t.Fatalf("alice has not left: %+v (%v)", s, err)
	}
	if err := waitFor(bob, 20*time.Second, func() (bool, error) {
		n, err := eval[int](bob, `document.querySelectorAll('.tile[data-stream]').length`)
		return err == nil && n == 0, err
	}); err != nil {
		t.Fatalf("alice left but bob's page still shows her: %v", err)
	}
	run(t, alice, 10*time.Second, chromedp.Click(chromedp.CSS("#join")))
	if s, err := publishing(alice, func(s publishStats) bool { return s.State == "live" && s.Worker && s.AudioPackets > 100 }); err != nil {
		t.Fatalf("alice does not publish after joining again: %+v (%v)", s, err)
	}
	seesAgain("after alice left and joined again")
}

// TestBrowserCallLoginLost: a participant's browser loses the login in the
// middle of a call (its cookies cleared, as when Chromium's network service
// restarts). The page goes to the login page and, logged in again, back
// into the room and into the call: it publishes again by itself.
func TestBrowserCallLoginLost(t *testing.T) {
	r := teamRelay(t)
	alice := joinRoom(t, browser.New(t, browser.FakeMedia()), r, "team", "alice", "alice's password")
	run(t, alice, 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}))
	var path string
	if err := waitFor(alice, 20*time.Second, func() (bool, error) {
		p, err := eval[string](alice, `location.pathname + location.search`)
		path = p
		return err == nil && strings.HasPrefix(p, "/login"), err
	}); err != nil {
		t.Fatalf("the page without its login stays at %s: %v", path, err)
	}
	if want := "next=" + url.QueryEscape("/room/team?size="+callSize+"&join=1"); !strings.Contains(path, want) {
		t.Errorf("login page %s: want it to lead back into the call (%s)", path, want)
	}
	browser.LogInHere(t, alice, "alice", "alice's password")
	var last publishStats
	if err := waitFor(alice, 30*time.Second, func() (bool, error) {
		s, err := eval[publishStats](alice, `window.quicastPublishStats ? window.quicastPublishStats() : {state: "not loaded"}`)
		last = s
		return err == nil && s.State == "live" && s.AudioPackets > 0 && s.VideoFrames > 0, err
	}); err != nil {
		screenshot(t, alice, "fail-login-lost")
		t.Fatalf("alice is not back in the call after logging in again: %+v (%v)", last, err)
	}
}

// TestBrowserCallCameraGone: a participant's camera stops in the middle of
// a call (its track ends). The page says so, and the publishing goes on
// with the microphone: still live, sound still sent.
func TestBrowserCallCameraGone(t *testing.T) {
	r := teamRelay(t)
	alice := joinRoom(t, browser.New(t, browser.FakeMedia()), r, "team", "alice", "alice's password")
	if _, err := eval[any](alice, `document.getElementById('self').srcObject.getVideoTracks()[0].stop(), 1`); err != nil {
		t.Fatal(err)
	}
	var before publishStats
	var status string
	if err := waitFor(alice, 20*time.Second, func() (bool, error) {
		s, err := eval[publishStats](alice, `window.quicastPublishStats()`)
		before = s
		if err != nil {
			return false, err
		}
		status, err = eval[string](alice, `document.getElementById('call-status').textContent`)
		return err == nil && s.CameraEnded && strings.Contains(status, "Your camera stopped"), err
	}); err != nil {
		t.Fatalf("the page does not say the camera stopped: %q, %+v (%v)", status, before, err)
	}
	var after publishStats
	if err := waitFor(alice, 20*time.Second, func() (bool, error) {
		s, err := eval[publishStats](alice, `window.quicastPublishStats()`)
		after = s
		return err == nil && s.State == "live" && s.AudioPackets > before.AudioPackets+100, err
	}); err != nil {
		t.Fatalf("the sound does not go on without the camera: before %+v, after %+v (%v)", before, after, err)
	}
	screenshot(t, alice, "call-camera-gone")
}
