package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/relay/e2e/browser"
)

func newBrowser(t testing.TB) context.Context { return browser.New(t) }

func run[T any](t testing.TB, ctx context.Context, d time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	return browser.Run(t, ctx, d, a)
}

func eval[T any](ctx context.Context, js string) (T, error) { return browser.Eval[T](ctx, js) }

func login(t testing.TB, ctx context.Context, r *relay, user, password string) {
	t.Helper()
	browser.Login(t, ctx, r.base(), user, password)
}

// location returns the page's path after it settles.
func location(t testing.TB, ctx context.Context) string {
	t.Helper()
	loc := run(t, ctx, 10*time.Second, chromedp.Location())
	i := strings.Index(loc, "://")
	if i >= 0 {
		if j := strings.Index(loc[i+3:], "/"); j >= 0 {
			return loc[i+3+j:]
		}
	}
	return loc
}

type playerStats = browser.Stats

func stats(ctx context.Context) (playerStats, error) { return browser.PlayerStats(ctx) }

// waitStats polls the player until cond holds; it fails the test with the
// last figures otherwise.
func waitStats(t testing.TB, ctx context.Context, d time.Duration, what string, cond func(playerStats) bool) playerStats {
	t.Helper()
	var last playerStats
	err := waitFor(ctx, d, func() (bool, error) {
		s, err := stats(ctx)
		if err != nil {
			return false, err
		}
		last = s
		return cond(s), nil
	})
	if err != nil {
		screenshot(t, ctx, "fail-"+sanitize(t.Name()))
		t.Fatalf("%s: %v; last stats: %v", what, err, last)
	}
	return last
}

// canvasColours counts the distinct colours (4 bits per channel) of the
// player's canvas scaled to 64×48: 1 for a blank or single-colour canvas,
// dozens for a real picture. It takes the most of five looks 150 ms apart,
// since the test source flashes white for 100 ms every second.
func canvasColours(ctx context.Context) (int, error) {
	best := 0
	for range 5 {
		n, err := canvasColoursOnce(ctx)
		if err != nil {
			return 0, err
		}
		best = max(best, n)
		time.Sleep(150 * time.Millisecond)
	}
	return best, nil
}

func canvasColoursOnce(ctx context.Context) (int, error) {
	return eval[int](ctx, `(() => {
		const c = document.querySelector('canvas');
		if (!c || !c.width || !c.height) return 0;
		const x = document.createElement('canvas'); x.width = 64; x.height = 48;
		const g = x.getContext('2d'); g.drawImage(c, 0, 0, 64, 48);
		const d = g.getImageData(0, 0, 64, 48).data, seen = new Set();
		for (let i = 0; i < d.length; i += 4) seen.add((d[i] >> 4) << 8 | (d[i+1] >> 4) << 4 | (d[i+2] >> 4));
		return seen.size;
	})()`)
}

func screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	// Where the page is, for a failure's log: the picture does not say.
	if where, err := chromedp.Run(c, chromedp.Evaluate[string](
		`location.href + ' "' + document.title + '": ' + (document.body ? document.body.innerText : '').slice(0, 300)`)); err == nil {
		t.Logf("screenshot %s: %s", name, where)
	}
	path := filepath.Join(*artifactsDir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", path)
	return path
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// jsString quotes s as a JavaScript string literal (JSON's is one).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
