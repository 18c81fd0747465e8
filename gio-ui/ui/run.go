package ui

import (
	"context"

	"gioui.org/app"
	"gioui.org/io/system"
	"gioui.org/op"
)

// Run drives the window w with u until the window is closed or Quit is
// pressed; then it stops the broadcast (releasing the camera and the
// microphone), ends every background goroutine and saves the settings.
func Run(w *app.Window, u *UI) error {
	ctx, cancel := context.WithCancel(context.Background())
	wg := u.start(ctx, w.Invalidate)
	defer func() {
		cancel()
		u.Shutdown()
		wg.Wait()
	}()
	var ops op.Ops
	for {
		switch e := w.Event().(type) {
		case app.DestroyEvent:
			return e.Err
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
