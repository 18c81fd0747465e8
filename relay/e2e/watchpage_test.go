package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
)

// visible reports whether the element matching sel is displayed.
func visible(ctx context.Context, sel string) (bool, error) {
	return eval[bool](ctx, `(() => { const e = document.querySelector(`+"`"+sel+"`"+`);
		return !!e && getComputedStyle(e).display !== 'none' && getComputedStyle(e).visibility !== 'hidden'; })()`)
}

func mustVisible(t testing.TB, ctx context.Context, sel string, want bool) {
	t.Helper()
	if err := waitFor(ctx, 5*time.Second, func() (bool, error) {
		v, err := visible(ctx, sel)
		return err == nil && v == want, err
	}); err != nil {
		t.Errorf("%s visible: want %v (%v)", sel, want, err)
	}
}

// TestWatchPageStates: what a person sees on the watch page under the
// browser's real autoplay rules: video plays muted with an unmute control
// in the corner until they click it; a video-only stream is simply live; an
// audio-only stream shows its level; an unknown stream says so.
func TestWatchPageStates(t *testing.T) {
	r := startRelay(t)
	r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	r.publish(t, "silent", r.addStream(t, "silent"), "-video", "test", "-audio", "none")
	r.publish(t, "radio", r.addStream(t, "radio"), "-video", "none", "-audio", "test")

	ctx := browser.New(t, browser.AutoplayBlocked())
	// Logged in without a click on this origin, as when a person opens a
	// shared link later: a click counts as the gesture autoplay waits for.
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/login"))
	if code, err := eval[int](ctx, `fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({username: `+jsString(r.user)+`, password: `+jsString(r.password)+`})}).then(r => r.status)`); err != nil || code != 204 {
		t.Fatalf("login: %d %v", code, err)
	}

	// Audio blocked: the video is live, muted, and says how to unmute.
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/"+r.stream))
	s := waitStats(t, ctx, 60*time.Second, "playing muted", func(s playerStats) bool {
		return s.State == "playing" && s.Muted && s.VideoFramesRendered >= 30
	})
	if s.AudioSamplesPlayed != 0 {
		t.Errorf("%d samples played with audio blocked", s.AudioSamplesPlayed)
	}
	mustVisible(t, ctx, "#unmute", true)
	mustVisible(t, ctx, "#live", true)
	if txt, _ := eval[string](ctx, `document.getElementById('live').innerText`); !strings.Contains(txt, "LIVE") || !strings.Contains(txt, "1 watching") {
		t.Errorf("live badge says %q", txt)
	}
	screenshot(t, ctx, "watch-muted")
	run(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#unmute")))
	s = waitStats(t, ctx, 20*time.Second, "sound after unmute", func(s playerStats) bool {
		return s.State == "playing" && !s.Muted && s.AudioSamplesPlayed >= 48000
	})
	t.Logf("unmuted: %v", s)
	mustVisible(t, ctx, "#unmute", false)

	// On a phone: the player and its stats overlay stay inside the screen.
	run(t, ctx, 10*time.Second, chromedp.Steps(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
		chromedp.Click(chromedp.CSS("#toggle-stats")),
	))
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) {
		fits, err := eval[bool](ctx, `(() => {
			const s = document.getElementById('stats').getBoundingClientRect();
			const p = document.getElementById('player').getBoundingClientRect();
			return s.width > 0 && s.left >= p.left && s.right <= p.right + 1 && s.top >= p.top && s.bottom <= p.bottom + 1 &&
				p.right <= innerWidth + 1 && document.getElementById('stats').textContent.includes('rendered');
		})()`)
		return fits, err
	}); err != nil {
		t.Errorf("stats overlay on a phone: %v", err)
	}
	screenshot(t, ctx, "watch-phone-stats")
	run(t, ctx, 10*time.Second, chromedp.Steps(chromedp.Click(chromedp.CSS("#toggle-stats")), chromedp.ResetViewport()))

	// Video only: live, nothing to unmute.
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/silent"))
	s = waitStats(t, ctx, 60*time.Second, "video-only playing", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= 30
	})
	if s.Muted || s.AudioCodec != "" {
		t.Errorf("video-only stream: muted %v, audio codec %q", s.Muted, s.AudioCodec)
	}
	mustVisible(t, ctx, "#unmute", false)

	// Audio only: a level meter instead of a picture, live once the sound
	// plays (after the click the autoplay rules ask for).
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/radio"))
	waitStats(t, ctx, 30*time.Second, "audio-only stream muted", func(s playerStats) bool { return s.Muted })
	mustVisible(t, ctx, "#level", true)
	run(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#unmute")))
	s = waitStats(t, ctx, 30*time.Second, "audio-only playing", func(s playerStats) bool {
		return s.State == "playing" && !s.Muted && s.AudioSamplesPlayed >= 48000
	})
	if s.VideoCodec != "" {
		t.Errorf("audio-only stream: video codec %q", s.VideoCodec)
	}
	// The level meter moves with the test source's beeps.
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) {
		w, err := eval[float64](ctx, `parseFloat(document.getElementById('level-bar').style.width) || 0`)
		return err == nil && w > 20, err
	}); err != nil {
		t.Errorf("audio-only stream: the level meter never moved: %v", err)
	}
	screenshot(t, ctx, "watch-audio-only")

	// An unknown stream: a 404 page that says so and leads back.
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/nope"))
	body, err := eval[string](ctx, `document.body.innerText`)
	if err != nil || !strings.Contains(body, "There is no stream named “nope”") || !strings.Contains(body, "see the streams") {
		t.Errorf("unknown stream page: %q %v", body, err)
	}
	screenshot(t, ctx, "watch-unknown-stream")
}

// TestWatchPageWithoutWebTransport: a browser that lacks WebTransport (as
// Safari) is told what is missing and which browsers work; the player does
// not start.
func TestWatchPageWithoutWebTransport(t *testing.T) {
	r := startRelay(t)
	ctx := newBrowser(t)
	run(t, ctx, 20*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.WebTransport;`})
		return err
	}))
	browser.LogIn(t, ctx, r.base(), r.user, r.password)
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/"+r.stream))
	var text string
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) {
		var err error
		text, err = eval[string](ctx, `document.getElementById('status').innerText`)
		return strings.Contains(text, "WebTransport"), err
	}); err != nil {
		t.Fatalf("status %q: %v", text, err)
	}
	if !strings.Contains(text, "Chrome") {
		t.Errorf("status does not name a browser that works: %q", text)
	}
	if st, _ := eval[string](ctx, `document.body.dataset.state`); st != "error" {
		t.Errorf("state %q, want error", st)
	}
	if started, _ := eval[bool](ctx, `typeof window.quicastStats === 'function'`); started {
		t.Error("the player started anyway")
	}
	screenshot(t, ctx, "watch-no-webtransport")
}

// TestWatchWithoutOffscreenCanvas: where a canvas cannot be handed to a
// worker, the player draws on the page's own thread, and plays all the
// same.
func TestWatchWithoutOffscreenCanvas(t *testing.T) {
	r := startRelay(t)
	r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	ctx := newBrowser(t)
	run(t, ctx, 20*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete HTMLCanvasElement.prototype.transferControlToOffscreen;`})
		return err
	}))
	browser.LogIn(t, ctx, r.base(), r.user, r.password)
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/watch/"+r.stream))
	s := waitStats(t, ctx, 60*time.Second, "playing with ≥ 60 frames rendered and ≥ 1 s of audio", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= 60 && s.AudioSamplesPlayed >= 48000
	})
	if s.Drawing != "here" {
		t.Errorf("frames drawn %q, want on the player's thread", s.Drawing)
	}
	if s.DecodeErrors != 0 || s.VideoFramesDecoded < s.VideoFramesRendered {
		t.Errorf("decode errors %d, decoded %d, rendered %d", s.DecodeErrors, s.VideoFramesDecoded, s.VideoFramesRendered)
	}
	wantPicture(t, ctx, 16, "watch-without-offscreen-canvas")
}
