package main

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quicast/quicast/gio-ui/internal/calltest"
	"github.com/quicast/quicast/relay/relaytest"
)

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
			cfg := t.TempDir()
			os.MkdirAll(filepath.Join(cfg, "quicast"), 0o700)
			os.WriteFile(filepath.Join(cfg, "quicast", "settings.json"), []byte(fmt.Sprintf(
				`{"mode":"call","relay":%q,"caFile":%q,"room":"team","callUser":"me","camera":"test","microphone":"test","size":"640x480","fps":15}`,
				r.URL, r.CAFile())), 0o600)
			cmd := exec.Command(bin, "-lang", lang, "-probes", "", "-v")
			cmd.Env = append(os.Environ(), "DISPLAY="+display, "XDG_CONFIG_HOME="+cfg, "XDG_RUNTIME_DIR="+t.TempDir(), "WAYLAND_DISPLAY=",
				"QUICAST_VIEWER_PASSWORD=my password")
			var logs strings.Builder
			cmd.Stdout, cmd.Stderr = &logs, &logs
			cmd.WaitDelay = 2 * time.Second
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
				if t.Failed() {
					t.Logf("window log:\n%s", logs.String())
				}
			}()
			xdo := func(args ...string) {
				t.Helper()
				c := exec.Command("xdotool", args...)
				c.Env = append(os.Environ(), "DISPLAY="+display)
				if out, err := c.CombinedOutput(); err != nil {
					t.Fatalf("xdotool %v: %v\n%s", args, err, out)
				}
			}
			waitUntil(t, "the window", func() bool {
				c := exec.Command("xdotool", "search", "--name", "^quicast$")
				c.Env = append(os.Environ(), "DISPLAY="+display)
				return c.Run() == nil
			})
			// Start call, bottom left; clicked again every 3 s while the button
			// there is still the blue Start call (the first click may come
			// before the window takes input), never once it is the red Hang
			// up of a call still on its way.
			shot := filepath.Join(t.TempDir(), "button.png")
			waitUntil(t, "a click on Start call to go live", func() bool {
				if c := color.RGBAModel.Convert(grab(t, display, shot).At(18, 676)).(color.RGBA); c.B > 0xa0 && c.R < 0x60 {
					xdo("mousemove", "40", "690", "click", "1")
				}
				return poll(3*time.Second, func() bool { return r.Live(t, "team.me") })
			})

			dir := os.Getenv("QUICAST_ARTIFACTS")
			if dir == "" {
				dir = t.TempDir()
			}
			path := filepath.Join(dir, "quicast-call-"+lang+".png")
			var img image.Image
			if !poll(30*time.Second, func() bool {
				img = grab(t, display, path)
				return barsRight(img) >= 6
			}) {
				t.Fatalf("their picture is not in the window: %d colours across the status panel (%s)", barsRight(img), path)
			}
			t.Logf("screenshot: %s", path)

			xdo("mousemove", "40", "690", "click", "1") // Hang up, where Start call was
			waitUntil(t, "the relay to see this side's stream end", func() bool { return !r.Live(t, "team.me") })
		})
	}
}

// barsRight counts the distinct colours (3 bits a channel) along a row
// near the top of the status panel's picture box: the test card's bars
// make eight or so, a blank or grey box one or two.
func barsRight(img image.Image) int {
	b := img.Bounds()
	y := b.Min.Y + 160
	seen := map[[3]uint8]bool{}
	for x := b.Min.X + b.Dx()/2 + 20; x < b.Max.X-20; x += 6 {
		c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
		seen[[3]uint8{c.R >> 5, c.G >> 5, c.B >> 5}] = true
	}
	return len(seen)
}
