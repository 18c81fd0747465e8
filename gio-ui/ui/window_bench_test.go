package ui

import (
	"context"
	"image"
	"os"
	"syscall"
	"testing"
	"time"

	"gioui.org/gpu/headless"
	"gioui.org/io/input"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/devices"
	"github.com/quicast/quicast/gio-ui/netcheck"
	"github.com/quicast/quicast/sender/media"
)

// BenchmarkCallWindowFrame: a frame of the whole window (1024×720, Gio,
// headless, on this machine's OpenGL: Mesa's llvmpipe where there is no
// GPU), as a call draws one for every new picture. "idle": the form and
// the camera's preview (a new 640×480 frame each frame, converted 480 wide
// as previewLoop does), as the window is before a call; "call-N-still" and
// "call-N-new": a call of N (the others' pictures: a new 640×480 frame
// each, converted as the window converts them, or none new; no self view),
// drawn as a call is, its state in place of the form; the "-form" cases
// draw the form there instead, as the window did before. ms/frame is the
// wall time of Frame, which waits for the rendering; cpu-ms/frame the CPU
// time of the whole process (Mesa's threads too).
func BenchmarkCallWindowFrame(b *testing.B) {
	for _, c := range []struct {
		name    string
		parties int // 0: no call
		fresh   bool
		form    bool
	}{
		{"idle", 0, true, false},
		{"call-2-still", 1, false, false},
		{"call-2-still-form", 1, false, true},
		{"call-2-new", 1, true, false},
		{"call-2-new-form", 1, true, true},
		{"call-4-still", 3, false, false},
		{"call-4-new", 3, true, false},
		{"call-4-new-form", 3, true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			size := image.Pt(1024, 720)
			w := headlessWindow(b, size)
			u, err := New(Config{ConfigDir: b.TempDir(), Lang: english(), NoPreview: true,
				Watcher: &devices.Watcher{Interval: time.Hour, List: func() ([]media.Device, error) { return nil, nil }},
				Checker: &netcheck.Checker{Probes: []string{}, Interval: time.Hour}})
			if err != nil {
				b.Fatal(err)
			}
			if c.parties > 0 {
				u.modeEnum.Value = modeCall
				_, cancel := context.WithCancel(context.Background())
				defer cancel()
				u.call = newCall(cancel, func() {}, nil, false)
			}
			var r input.Router
			var ops op.Ops
			frame := func() {
				ops.Reset()
				gtx := layout.Context{Ops: &ops, Now: time.Now(), Source: r.Source(),
					Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1}, Constraints: layout.Exact(size)}
				if c.form {
					u.update(gtx)
					v := u.liveView(gtx)
					u.layoutWindow(gtx, u.layoutForm, func(gtx C) D { return u.layoutStatus(gtx, v) })
				} else {
					u.Layout(gtx)
				}
				r.Frame(&ops)
				if err := w.Frame(&ops); err != nil {
					b.Fatal(err)
				}
			}
			if u.call != nil {
				for i := range c.parties {
					u.call.parties = append(u.call.parties, &party{user: string(rune('a' + i))})
				}
			}
			// The first frame lays out the picture boxes: the size
			// pictures are converted at.
			frame()
			frame640 := func(k int) *image.YCbCr { // a decoded 640×480 frame
				y := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
				for j := range y.Y {
					y.Y[j] = byte(k + j)
				}
				return y
			}
			setPictures := func(i int) {
				if u.call == nil {
					u.bg.mu.Lock()
					u.bg.idlePreview = broadcast.Thumbnail(frame640(i), 480)
					u.bg.mu.Unlock()
					return
				}
				u.call.mu.Lock()
				defer u.call.mu.Unlock()
				for k, p := range u.call.parties {
					// Converted as the window draws it.
					p.latest, p.latestTS = frame640(i+k), int64(i)*6000
				}
			}
			setPictures(0)
			frame()
			i := 1
			cpu0 := cpuTime()
			for b.Loop() {
				if c.fresh {
					setPictures(i)
				}
				frame()
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/frame")
		})
	}
}

// headlessWindow is a Gio window of the given size drawn by this machine's
// OpenGL with no display (EGL_PLATFORM=surfaceless where there is none),
// released when b ends; b is skipped without OpenGL.
func headlessWindow(b *testing.B, size image.Point) *headless.Window {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" && os.Getenv("EGL_PLATFORM") == "" {
		b.Setenv("EGL_PLATFORM", "surfaceless")
	}
	w, err := headless.NewWindow(size.X, size.Y)
	if err != nil {
		b.Skipf("no OpenGL for a headless window: %v", err)
	}
	b.Cleanup(w.Release)
	return w
}

// cpuTime is the CPU time, in ns, this process has used (all its threads).
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
