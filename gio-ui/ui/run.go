package ui

import (
	"context"
	"time"

	"gioui.org/app"
	"gioui.org/io/system"
	"gioui.org/op"
)

// shutdownLimit bounds the wait for a broadcast to stop when the window
// closes: a device or a network stuck in a system call must not keep a
// process without a window alive.
const shutdownLimit = 5 * time.Second

// Run drives the window w with u until the window is closed (its close
// button, Quit, or a signal); then it saves the settings, stops the
// broadcast (releasing the camera and the microphone) and ends every
// background goroutine, giving up on them after shutdownLimit. The window's
// events are not asked for again after its DestroyEvent.
func Run(w *app.Window, u *UI) error {
	ctx, cancel := context.WithCancel(context.Background())
	wg := u.start(ctx, w.Invalidate)
	err := loop(w, u)
	u.save() // first: whatever happens next, the settings are kept
	cancel()
	done := make(chan struct{})
	go func() {
		u.Shutdown()
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownLimit):
		u.log.Warn("the broadcast did not stop in time; quitting anyway", "after", shutdownLimit)
	}
	return err
}

// loop handles the window's events until it is destroyed.
//
// Gio v0.10 delivers, after a ClosingEvent, an invalid ViewEvent before
// the DestroyEvent, with the window's driver already gone: asking for the
// next event then makes a new window (a second connection to the display,
// which can fail or hang). So an invalid view after a close ends the loop
// as the DestroyEvent would.
func loop(w *app.Window, u *UI) error {
	var ops op.Ops
	closing := false
	for {
		switch e := w.Event().(type) {
		case app.DestroyEvent:
			return e.Err
		case *app.ClosingEvent:
			closing = true
		case app.ViewEvent:
			if closing && !e.Valid() {
				return nil
			}
		case app.FrameEvent:
			gtx := app.NewContext(&ops, e)
			u.Layout(gtx)
			e.Frame(gtx.Ops)
			if u.quit {
				u.quit = false
				w.Perform(system.ActionClose)
			}
		}
	}
}
