package main

import (
	"bufio"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScreenshot runs the real window under Xvfb, in English and in
// Chinese, photographs the screen with ffmpeg's x11grab and checks the
// pictures: the red warnings of this offline setup (no probe answers, the
// relay's port is closed) and the device selectors.
func TestScreenshot(t *testing.T) {
	bin, display := windowUnderXvfb(t, "ffmpeg")
	dir := os.Getenv("QUICAST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, lang := range []string{"en", "zh"} {
		t.Run(lang, func(t *testing.T) {
			cfg := t.TempDir()
			os.MkdirAll(filepath.Join(cfg, "quicast"), 0o700)
			// A relay whose port nobody serves.
			os.WriteFile(filepath.Join(cfg, "quicast", "settings.json"), []byte(`{"relay":"https://127.0.0.1:9","stream":"demo"}`), 0o600)
			ctx, cancel := context.WithCancel(context.Background())
			cmd := exec.CommandContext(ctx, bin, "-lang", lang, "-probes", "127.0.0.1:9")
			cmd.Env = append(os.Environ(), "DISPLAY="+display, "XDG_CONFIG_HOME="+cfg, "XDG_RUNTIME_DIR="+t.TempDir(), "WAYLAND_DISPLAY=")
			var logs strings.Builder
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cancel(); cmd.Wait() }()
			// The relay check times out after 2 s; then both warnings show.
			var img image.Image
			var path string
			deadline := time.Now().Add(20 * time.Second)
			for {
				time.Sleep(time.Second)
				path = filepath.Join(dir, "quicast-window-"+lang+".png")
				img = grab(t, display, path)
				if redRows(img) >= 2 || time.Now().After(deadline) {
					break
				}
			}
			if n := redRows(img); n < 2 {
				t.Errorf("%d red warnings in %s, want 2 (no internet, relay unreachable); window log:\n%s", n, path, logs.String())
			}
			// Two lists: each a grey "No device available" and three
			// choices (test, file, off) on this machine without devices;
			// then the seven quality choices.
			if blue, grey := radioIcons(img, 0x1a, 0x56, 0xdb), radioIcons(img, 0xa6, 0xa6, 0xa6); blue < 13 || grey != 2 {
				t.Errorf("%d blue and %d grey radio buttons in the left column of %s, want the camera and microphone lists and the quality (13+ and 2)", blue, grey, path)
			}
			t.Logf("screenshot: %s", path)
		})
	}
}

// windowUnderXvfb builds the window and starts a virtual X server for it;
// tools are the other programs the test needs.
func windowUnderXvfb(t testing.TB, tools ...string) (bin, display string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Xvfb")
	}
	for _, tool := range append([]string{"Xvfb"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: run scripts/deps.sh (make test does)", tool)
		}
	}
	bin = filepath.Join(t.TempDir(), "quicast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin, startXvfb(t)
}

// startXvfb starts a virtual X server on a display it picks itself
// (-displayfd) and stops it, cleanly, when the test ends.
func startXvfb(t testing.TB) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1024x720x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		b, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(b)
	}()
	select {
	case n := <-line:
		if n == "" {
			t.Fatal("Xvfb did not start")
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatal("Xvfb did not start in 30 s")
	}
	return ""
}

func grab(t testing.TB, display, path string) image.Image {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab",
		"-video_size", "1024x720", "-i", display, "-frames:v", "1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("x11grab: %v\n%s", err, out)
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
	return img
}

// redRows counts the red warning banners: runs of rows whose middle is the
// warning red (#c62828).
func redRows(img image.Image) int {
	b := img.Bounds()
	banners, in := 0, false
	for y := b.Min.Y; y < b.Max.Y; y++ {
		red := 0
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, 0xc6) && near(g, 0x28) && near(bl, 0x28) {
				red++
			}
		}
		isBanner := red > b.Dx()/4/2
		if isBanner && !in {
			banners++
		}
		in = isBanner
	}
	return banners
}

// radioIcons counts the radio button rings of colour (r, g, b) in the left
// half, the form: connected shapes of that colour whose bounding box is a square of
// 14 to 30 pixels. Antialiased text leaves only small specks of any one
// shade, and the wide buttons are not square.
func radioIcons(img image.Image, cr, cg, cb uint8) int {
	area := image.Rect(8, 0, img.Bounds().Dx()*48/100, img.Bounds().Max.Y).Intersect(img.Bounds())
	seen := make(map[image.Point]bool)
	match := func(p image.Point) bool {
		if !p.In(area) || seen[p] {
			return false
		}
		r, g, bl, _ := img.At(p.X, p.Y).RGBA()
		return near(r, cr) && near(g, cg) && near(bl, cb)
	}
	icons := 0
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			p := image.Pt(x, y)
			if !match(p) {
				continue
			}
			box := image.Rectangle{Min: p, Max: p.Add(image.Pt(1, 1))}
			seen[p] = true
			stack := []image.Point{p}
			for len(stack) > 0 {
				q := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				box = box.Union(image.Rectangle{Min: q, Max: q.Add(image.Pt(1, 1))})
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						if n := q.Add(image.Pt(dx, dy)); match(n) {
							seen[n] = true
							stack = append(stack, n)
						}
					}
				}
			}
			w, h := box.Dx(), box.Dy()
			if w >= 14 && w <= 30 && h >= 14 && h <= 30 && w-h <= 3 && h-w <= 3 {
				icons++
			}
		}
	}
	return icons
}

func near(v uint32, want uint8) bool {
	d := int(v>>8) - int(want)
	return d > -24 && d < 24
}
