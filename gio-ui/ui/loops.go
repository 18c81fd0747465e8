package ui

import (
	"context"
	"image"
	"sync"
	"time"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/devices"
	"github.com/quicast/quicast/gio-ui/netcheck"
	"github.com/quicast/quicast/sender/media"
)

// start runs the background goroutines until ctx ends; wait for them with
// the returned WaitGroup.
func (u *UI) start(ctx context.Context, invalidate func()) *sync.WaitGroup {
	u.invalidate = invalidate
	var wg sync.WaitGroup
	wg.Go(func() {
		u.cfg.Watcher.Run(ctx, func(l devices.Lists, err error) {
			u.bg.mu.Lock()
			u.bg.lists, u.bg.listsErr, u.bg.haveLists = l, err, true
			u.bg.mu.Unlock()
			invalidate()
		})
	})
	wg.Go(func() {
		c := *u.cfg.Checker
		base := c.Tick
		if base == nil {
			base = time.After
		}
		// A pin or a new relay address is checked at once.
		c.Tick = func(d time.Duration) <-chan time.Time {
			ch := make(chan time.Time, 1)
			go func() {
				select {
				case t := <-base(d):
					ch <- t
				case <-u.recheck:
					ch <- time.Now()
				case <-ctx.Done():
				}
			}()
			return ch
		}
		c.Run(ctx, func() netcheck.Relay {
			u.bg.mu.Lock()
			defer u.bg.mu.Unlock()
			return u.bg.relay
		}, func(s netcheck.Status) {
			u.bg.mu.Lock()
			u.bg.net, u.bg.haveNet = s, true
			u.bg.mu.Unlock()
			invalidate()
		})
	})
	if !u.cfg.NoPreview {
		wg.Go(func() { u.previewLoop(ctx) })
	}
	return &wg
}

// previewLoop shows the selected camera while no broadcast runs (the
// broadcast has its own tap on the camera then).
func (u *UI) previewLoop(ctx context.Context) {
	var (
		cur media.Source
		pr  *media.PreviewReader
	)
	defer func() {
		if pr != nil {
			pr.Close()
		}
	}()
	for {
		var want media.Source
		if pr == nil {
			select {
			case <-ctx.Done():
				return
			case want = <-u.previewWant:
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case want = <-u.previewWant:
			default:
				want = cur
			}
		}
		if want != cur {
			if pr != nil {
				pr.Close()
				pr = nil
			}
			u.bg.mu.Lock()
			u.bg.idlePreview = nil
			u.bg.mu.Unlock()
			u.invalidate()
			cur = want
			if want.Type == media.SourceTest || want.Type == media.SourceDevice {
				var err error
				if pr, err = media.OpenPreview(want, media.Options{Width: 640, Height: 480, FPS: 30}); err != nil {
					u.log.Info("no preview", "source", want, "err", err)
					pr = nil
				}
			}
			continue
		}
		if pr == nil {
			continue
		}
		if err := pr.Read(func(img image.Image) {
			t := broadcast.Thumbnail(img, 480)
			u.bg.mu.Lock()
			u.bg.idlePreview = t
			u.bg.mu.Unlock()
		}); err != nil {
			u.log.Info("preview ended", "source", cur, "err", err)
			pr.Close()
			pr = nil
			continue
		}
		u.invalidate()
	}
}

func (u *UI) wantPreview(s media.Source) {
	select {
	case <-u.previewWant:
	default:
	}
	u.previewWant <- s
}

// commitRelay hands the relay of the form to the network check, which
// checks it at once when it changed.
func (u *UI) commitRelay() {
	t := u.relayTarget()
	u.bg.mu.Lock()
	changed := t != u.bg.relay
	u.bg.relay = t
	u.bg.mu.Unlock()
	if changed {
		u.checkRelayNow()
	}
}

// checkRelayNow has the network check run at once rather than at its next
// interval.
func (u *UI) checkRelayNow() {
	select {
	case u.recheck <- struct{}{}:
	default:
	}
}

// selfViewWait is how long after the window's last frame a new self-view
// picture of a call may wait for the next redraw the others' pictures
// bring.
const selfViewWait = 100 * time.Millisecond

// selfViewChanged is the broadcast's new self-view picture: it redraws the
// window, unless the window's last frame, drawn less than selfViewWait
// ago, showed others' pictures of a call — the redraw their next picture
// brings shows this one too. A call of two then draws a frame per picture
// of theirs rather than one per picture of either side; when their
// pictures stop, the self view waits selfViewWait at most.
func (u *UI) selfViewChanged() {
	if u.drewOthers.Load() && u.now().Sub(time.Unix(0, u.drawnAt.Load())) < selfViewWait {
		return
	}
	u.invalidate()
}
