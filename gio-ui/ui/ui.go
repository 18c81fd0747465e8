// Package ui is the quicast desktop window: device selectors, network
// status, broadcast settings, Start/Stop, live status and a self view. The
// UI type owns every widget's state and lays it out once per frame; the
// device watcher, the network checker, the preview reader and the broadcast
// run in their own goroutines and hand their results over under a mutex.
package ui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gioui.org/font/gofont"
	"gioui.org/io/clipboard"
	"gioui.org/layout"
	"gioui.org/op/clip"
	"gioui.org/op/paint"
	"gioui.org/text"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/devices"
	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/gio-ui/netcheck"
	"github.com/quicast/quicast/gio-ui/settings"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

// Config is what the window starts from. The zero value works: settings in
// the user's config directory, the system's devices and network.
type Config struct {
	ConfigDir string // where settings live; default settings.Dir()
	Lang      *i18n.Lang
	Watcher   *devices.Watcher
	Checker   *netcheck.Checker
	Logger    *slog.Logger
	// NoPreview turns the idle self view off (tests that count frames).
	NoPreview bool
	// Key, when set, is the publish key from the command line's -key-file
	// or $QUICAST_KEY: shown in the form, not written to the settings.
	Key string
}

// Qualities offered: frame size, frame rate, video bitrate.
var (
	sizes    = []string{"640x480", "1280x720"}
	rates    = []string{"15", "30"}
	bitrates = []string{"500", "1000", "2500"}
)

var (
	red       = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	green     = color.NRGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}
	grey      = color.NRGBA{R: 0x75, G: 0x75, B: 0x75, A: 0xff}
	panel     = color.NRGBA{R: 0xf3, G: 0xf4, B: 0xf8, A: 0xff}
	black     = color.NRGBA{A: 0xff}
	white     = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	meterFill = color.NRGBA{R: 0x43, G: 0xa0, B: 0x47, A: 0xff}
)

// UI is the window's state.
type UI struct {
	cfg  Config
	th   *material.Theme
	lang i18n.Lang
	set  settings.Settings
	log  *slog.Logger

	camEnum, micEnum, sizeEnum, rateEnum, bitrateEnum, langEnum widget.Enum
	noCam, noMic                                                widget.Enum // never read: "No device available" is in no group
	camFile, micFile, relayEd, streamEd, keyEd, caEd            widget.Editor
	startBtn, stopBtn, quitBtn, copyBtn, pinBtn, takeoverBtn    widget.Clickable
	form                                                        widget.List
	showPreview                                                 widget.Bool

	cam, mic devices.Entry // the current choices
	lists    devices.Lists // as of this frame

	bg       shared // filled by the background goroutines
	bc       *broadcast.Broadcast
	bcErr    string // the words for the last broadcast's failure
	bcLive   bool   // it failed because another sender is live: offer to take over
	copiedAt time.Time
	quit     bool
	editing  [2]bool // the relay and CA fields had the focus last frame

	preview     *image.RGBA // the frame previewOp was made from
	previewOp   paint.ImageOp
	invalidate  func()
	previewWant chan media.Source
	recheck     chan struct{}
	now         func() time.Time
}

// shared is what the background goroutines report.
type shared struct {
	mu          sync.Mutex
	lists       devices.Lists
	listsErr    error
	haveLists   bool
	net         netcheck.Status
	haveNet     bool
	relay       netcheck.Relay
	idlePreview *image.RGBA
}

// New makes the window's state from cfg and the saved settings.
func New(cfg Config) (*UI, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Watcher == nil {
		cfg.Watcher = &devices.Watcher{}
	}
	if cfg.Checker == nil {
		cfg.Checker = &netcheck.Checker{}
	}
	if cfg.ConfigDir == "" {
		d, err := settings.Dir()
		if err != nil {
			return nil, err
		}
		cfg.ConfigDir = d
	}
	set, err := settings.Load(cfg.ConfigDir)
	if err != nil {
		return nil, err
	}
	u := &UI{cfg: cfg, set: set, log: cfg.Logger.With("component", "ui"), now: time.Now,
		previewWant: make(chan media.Source, 1), recheck: make(chan struct{}, 1), invalidate: func() {}}
	u.th = material.NewTheme()
	// The Go fonts for Latin text; the system's fonts (Noto CJK on Debian)
	// for Chinese.
	u.th.Shaper = text.NewShaper(text.WithCollection(gofont.Collection()))
	u.th.Palette.ContrastBg = color.NRGBA{R: 0x1a, G: 0x56, B: 0xdb, A: 0xff}

	switch {
	case cfg.Lang != nil:
		u.lang = *cfg.Lang
	default:
		if l, ok := i18n.Parse(set.Language); ok {
			u.lang = l
		} else {
			u.lang = i18n.FromEnv(os.Getenv)
		}
	}
	u.langEnum.Value = u.lang.Code()
	for _, ed := range []*widget.Editor{&u.camFile, &u.micFile, &u.relayEd, &u.streamEd, &u.keyEd, &u.caEd} {
		ed.SingleLine = true
	}
	u.relayEd.Submit, u.caEd.Submit = true, true
	u.keyEd.Mask = '•'
	u.showPreview.Value = !set.HidePreview
	u.relayEd.SetText(set.Relay)
	u.streamEd.SetText(set.Stream)
	u.keyEd.SetText(set.Key)
	if cfg.Key != "" {
		u.keyEd.SetText(cfg.Key)
	}
	u.caEd.SetText(set.CAFile)
	u.sizeEnum.Value = pick(set.Size, sizes, "1280x720")
	u.rateEnum.Value = pick(strconv.Itoa(set.FPS), rates, "30")
	u.bitrateEnum.Value = pick(strconv.Itoa(set.BitrateKbps), bitrates, "1000")
	u.cam = entryFromSetting(set.Camera, &u.camFile)
	u.mic = entryFromSetting(set.Microphone, &u.micFile)
	u.form.Axis = layout.Vertical
	u.bg.relay = u.relayTarget()
	return u, nil
}

func pick(v string, from []string, def string) string {
	for _, s := range from {
		if s == v {
			return v
		}
	}
	return def
}

// entryFromSetting restores a saved choice; devices are matched against
// the lists when they arrive.
func entryFromSetting(s string, fileEd *widget.Editor) devices.Entry {
	switch {
	case s == "":
		return devices.Entry{Kind: devices.Device} // the first device, when the lists come
	case s == "test":
		return devices.Entry{Kind: devices.Test, Source: "test"}
	case s == "none":
		return devices.Entry{Kind: devices.Disabled, Source: "none"}
	case strings.HasPrefix(s, "file:"):
		fileEd.SetText(strings.TrimPrefix(s, "file:"))
		return devices.Entry{Kind: devices.File}
	}
	return devices.Entry{Kind: devices.Device, Source: s}
}

func entrySetting(e devices.Entry, fileEd *widget.Editor) string {
	if e.Kind == devices.File {
		return "file:" + strings.TrimSpace(fileEd.Text())
	}
	return e.Source
}

func enumKey(e devices.Entry) string {
	if e.Kind == devices.File {
		return "file"
	}
	return e.Source
}

// relayTarget is the relay of the form and how to trust it: by the CA
// file when one is given, else by the pin saved for this relay.
func (u *UI) relayTarget() netcheck.Relay {
	url := strings.TrimRight(strings.TrimSpace(u.relayEd.Text()), "/")
	if ca := strings.TrimSpace(u.caEd.Text()); ca != "" {
		return netcheck.Relay{URL: url, CAFile: ca}
	}
	return netcheck.Relay{URL: url, Pin: u.set.Pin(url)}
}

// Background work ----------------------------------------------------------

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

// Shutdown stops the broadcast, if any, and saves the settings.
func (u *UI) Shutdown() {
	if u.bc != nil {
		u.bc.Stop()
		u.bc = nil
	}
	u.save()
}

func (u *UI) save() {
	u.set.Relay = strings.TrimSpace(u.relayEd.Text())
	u.set.Stream = strings.TrimSpace(u.streamEd.Text())
	if k := strings.TrimSpace(u.keyEd.Text()); k != u.cfg.Key || k == "" {
		u.set.Key = k // a key from -key-file or the environment stays there
	}
	u.set.CAFile = strings.TrimSpace(u.caEd.Text())
	u.set.Camera = entrySetting(u.cam, &u.camFile)
	u.set.Microphone = entrySetting(u.mic, &u.micFile)
	u.set.Size = u.sizeEnum.Value
	u.set.FPS, _ = strconv.Atoi(u.rateEnum.Value)
	u.set.BitrateKbps, _ = strconv.Atoi(u.bitrateEnum.Value)
	u.set.Language = u.lang.Code()
	if err := settings.Save(u.cfg.ConfigDir, u.set); err != nil {
		u.log.Warn("settings not saved", "err", err)
	}
}

// Events ------------------------------------------------------------------

// commitRelay hands the relay of the form to the network check, which
// checks it at once when it changed.
func (u *UI) commitRelay() {
	t := u.relayTarget()
	u.bg.mu.Lock()
	changed := t != u.bg.relay
	u.bg.relay = t
	u.bg.mu.Unlock()
	if changed {
		select {
		case u.recheck <- struct{}{}:
		default:
		}
	}
}

// update handles the input of the last frame and the background results.
func (u *UI) update(gtx layout.Context) {
	u.bg.mu.Lock()
	lists, haveLists := u.bg.lists, u.bg.haveLists
	u.bg.mu.Unlock()
	u.lists = lists

	if u.langEnum.Update(gtx) {
		if l, ok := i18n.Parse(u.langEnum.Value); ok {
			u.lang = l
		}
	}
	live := u.bc != nil
	if !live {
		if u.camEnum.Update(gtx) {
			u.cam = entryByKey(lists.Cameras, u.camEnum.Value)
		}
		if u.micEnum.Update(gtx) {
			u.mic = entryByKey(lists.Microphones, u.micEnum.Value)
		}
	}
	if haveLists {
		u.cam = devices.Keep(lists.Cameras, u.matchDevice(lists.Cameras, u.cam))
		u.mic = devices.Keep(lists.Microphones, u.matchDevice(lists.Microphones, u.mic))
	}
	u.camEnum.Value, u.micEnum.Value = enumKey(u.cam), enumKey(u.mic)

	// The relay is checked with what was typed once the field is left (or
	// Enter pressed), not at every key: half an address would flash a red
	// warning and move the form under the typing hand.
	for i, ed := range []*widget.Editor{&u.relayEd, &u.caEd} {
		submitted := false
		for {
			ev, ok := ed.Update(gtx)
			if !ok {
				break
			}
			if _, ok := ev.(widget.SubmitEvent); ok {
				submitted = true
			}
		}
		focused := gtx.Focused(ed)
		if submitted || (u.editing[i] && !focused) {
			u.commitRelay()
		}
		u.editing[i] = focused
	}
	if u.pinBtn.Clicked(gtx) {
		u.bg.mu.Lock()
		fp := u.bg.net.Fingerprint
		u.bg.mu.Unlock()
		u.set.SetPin(u.relayTarget().URL, fp.String())
		u.save()
		u.commitRelay()
	}
	if u.startBtn.Clicked(gtx) && u.bc == nil {
		u.startBroadcast(false)
	}
	if u.takeoverBtn.Clicked(gtx) && u.bc == nil && u.bcLive {
		u.startBroadcast(true)
	}
	if u.stopBtn.Clicked(gtx) && u.bc != nil {
		u.stopBroadcast()
	}
	if u.bc != nil {
		select {
		case <-u.bc.Done():
			st := u.bc.Status()
			u.bcErr = u.problemText(st)
			u.bcLive = st.State == broadcast.Failed && st.Problem == broadcast.StreamLive
			u.bc = nil
		default:
		}
	}
	if u.copyBtn.Clicked(gtx) && u.bc != nil {
		gtx.Execute(clipboard.WriteCmd{Type: "application/text", Data: io.NopCloser(strings.NewReader(u.bc.Status().WatchURL))})
		u.copiedAt = u.now()
	}
	if u.quitBtn.Clicked(gtx) {
		u.quit = true
	}
	if u.showPreview.Update(gtx) {
		u.set.HidePreview = !u.showPreview.Value
		if u.bc != nil {
			u.bc.ShowPreview(u.showPreview.Value)
		}
		u.save()
	}
	// The self view follows the camera choice while idle.
	if u.bc == nil && u.showPreview.Value {
		u.wantPreview(u.sourceOf(u.cam, &u.camFile))
	} else {
		u.wantPreview(media.Source{})
	}
}

// matchDevice finds a saved device choice (known by its source only) in
// list, so that its label shows.
func (u *UI) matchDevice(list []devices.Entry, e devices.Entry) devices.Entry {
	if e.Kind != devices.Device {
		return e
	}
	for _, x := range list {
		if x.Kind == devices.Device && x.Source == e.Source {
			return x
		}
	}
	return e
}

func entryByKey(list []devices.Entry, key string) devices.Entry {
	for _, e := range list {
		if enumKey(e) == key && e.Selectable() {
			return e
		}
	}
	return devices.Entry{Kind: devices.Test, Source: "test"}
}

func (u *UI) sourceOf(e devices.Entry, fileEd *widget.Editor) media.Source {
	if e.Kind == devices.File {
		return media.Source{Type: media.SourceFile, Arg: strings.TrimSpace(fileEd.Text())}
	}
	s, err := media.ParseSource(e.Source)
	if err != nil {
		return media.Source{}
	}
	return s
}

func (u *UI) startBroadcast(takeover bool) {
	target := u.relayTarget()
	relay, stream, key := target.URL, strings.TrimSpace(u.streamEd.Text()), strings.TrimSpace(u.keyEd.Text())
	if relay == "" || stream == "" || key == "" {
		u.bcErr = u.lang.T(i18n.ErrFields)
		return
	}
	u.save()
	u.bcErr, u.bcLive = "", false
	var w, h int
	fmt.Sscanf(u.sizeEnum.Value, "%dx%d", &w, &h)
	fps, _ := strconv.Atoi(u.rateEnum.Value)
	kbps, _ := strconv.Atoi(u.bitrateEnum.Value)
	// The camera is opened once: the idle preview lets go of it first.
	u.wantPreview(media.Source{})
	u.bc = broadcast.Start(broadcast.Config{
		PublishConfig: sender.PublishConfig{Relay: relay, Stream: stream, Key: key, CAFile: target.CAFile, Pin: target.Pin,
			Takeover: takeover},
		Video:       u.sourceOf(u.cam, &u.camFile),
		Audio:       u.sourceOf(u.mic, &u.micFile),
		Options:     media.Options{Width: w, Height: h, FPS: float64(fps), VideoBitrate: kbps * 1000},
		Logger:      u.cfg.Logger,
		Changed:     u.invalidate,
		HidePreview: !u.showPreview.Value,
	})
}

func (u *UI) stopBroadcast() {
	u.bc.Stop()
	u.bcErr = u.problemText(u.bc.Status())
	u.bc = nil
}

// problemText puts a failed broadcast in words.
func (u *UI) problemText(s broadcast.Status) string {
	if s.State != broadcast.Failed {
		return ""
	}
	what := u.lang.T(i18n.Camera)
	if s.Kind == media.KindAudio {
		what = u.lang.T(i18n.Microphone)
	}
	if u.lang == i18n.English {
		what = strings.ToLower(what)
	}
	switch s.Problem {
	case broadcast.BadKey:
		return u.lang.T(i18n.ErrBadKey)
	case broadcast.NoStream:
		return u.lang.T(i18n.ErrNoStream)
	case broadcast.Untrusted:
		u.bg.mu.Lock()
		fp := u.bg.net.Fingerprint
		u.bg.mu.Unlock()
		return u.lang.T(i18n.RelayUntrusted, fp)
	case broadcast.Unreachable:
		return u.lang.T(i18n.RelayUnreachable, u.reasonText(netcheck.Reason(s.Err)))
	case broadcast.RelayGone:
		return u.lang.T(i18n.ErrRelayGone)
	case broadcast.DeviceBusy:
		return u.lang.T(i18n.ErrDevice, what, s.Err)
	case broadcast.DeviceGone:
		return u.lang.T(i18n.ErrDeviceGone, what, s.Err)
	case broadcast.FileError:
		return u.lang.T(i18n.ErrFile, s.Err)
	case broadcast.StreamLive:
		return u.lang.T(i18n.ErrStreamLive)
	case broadcast.TakenOver:
		return u.lang.T(i18n.ErrTakenOver)
	case broadcast.Revoked:
		return u.lang.T(i18n.ErrRevoked)
	}
	return s.Err.Error()
}

// Layout ------------------------------------------------------------------

type (
	C = layout.Context
	D = layout.Dimensions
)

// Layout draws the window.
func (u *UI) Layout(gtx C) D {
	u.update(gtx)
	paint.Fill(gtx.Ops, white)
	return layout.UniformInset(unit.Dp(12)).Layout(gtx, func(gtx C) D {
		return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
			layout.Rigid(u.layoutHeader),
			layout.Rigid(func(gtx C) D {
				// Two banners' room, always: a warning that comes or goes
				// does not move the form.
				h := gtx.Dp(warningsHeight)
				gtx.Constraints.Min.Y, gtx.Constraints.Max.Y = h, h
				defer clip.Rect{Max: image.Pt(gtx.Constraints.Max.X, h)}.Push(gtx.Ops).Pop()
				u.layoutWarnings(gtx)
				return D{Size: image.Pt(gtx.Constraints.Max.X, h)}
			}),
			layout.Flexed(1, func(gtx C) D {
				return layout.Flex{Spacing: layout.SpaceBetween}.Layout(gtx,
					layout.Flexed(0.48, u.layoutForm),
					layout.Rigid(layout.Spacer{Width: unit.Dp(16)}.Layout),
					layout.Flexed(0.52, u.layoutStatus),
				)
			}),
		)
	})
}

func (u *UI) layoutHeader(gtx C) D {
	return layout.Inset{Bottom: unit.Dp(8)}.Layout(gtx, func(gtx C) D {
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
			layout.Rigid(material.H5(u.th, u.lang.T(i18n.Title)).Layout),
			layout.Flexed(1, layout.Spacer{}.Layout),
			layout.Rigid(material.Body2(u.th, u.lang.T(i18n.Language)+":").Layout),
			layout.Rigid(material.RadioButton(u.th, &u.langEnum, i18n.English.Code(), i18n.English.Name()).Layout),
			layout.Rigid(material.RadioButton(u.th, &u.langEnum, i18n.Chinese.Code(), i18n.Chinese.Name()).Layout),
		)
	})
}

// warningsHeight is the room of the network warnings: two banners.
const warningsHeight = unit.Dp(72)

// layoutWarnings shows the red network warnings, or a quiet status line.
func (u *UI) layoutWarnings(gtx C) D {
	u.bg.mu.Lock()
	st, have, listsErr := u.bg.net, u.bg.haveNet, u.bg.listsErr
	u.bg.mu.Unlock()
	var rows []layout.FlexChild
	banner := func(msg string, action *widget.Clickable, actionText string) {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			return layout.Inset{Bottom: unit.Dp(6)}.Layout(gtx, func(gtx C) D {
				return layout.Background{}.Layout(gtx,
					func(gtx C) D {
						paint.FillShape(gtx.Ops, red, clip.UniformRRect(image.Rectangle{Max: gtx.Constraints.Min}, gtx.Dp(4)).Op(gtx.Ops))
						return D{Size: gtx.Constraints.Min}
					},
					func(gtx C) D {
						gtx.Constraints.Min.X = gtx.Constraints.Max.X
						return layout.Inset{Top: 6, Bottom: 6, Left: 8, Right: 8}.Layout(gtx, func(gtx C) D {
							return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
								layout.Flexed(1, func(gtx C) D {
									l := material.Body2(u.th, "⚠ "+msg)
									l.Color = white
									return l.Layout(gtx)
								}),
								layout.Rigid(func(gtx C) D {
									if action == nil {
										return D{}
									}
									b := material.Button(u.th, action, actionText)
									b.Background, b.Color = white, red
									b.TextSize, b.Inset = unit.Sp(13), layout.Inset{Top: 3, Bottom: 3, Left: 10, Right: 10}
									return layout.Inset{Left: unit.Dp(8)}.Layout(gtx, b.Layout)
								}),
							)
						})
					})
			})
		}))
	}
	quiet := func(msg string, c color.NRGBA) {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			return layout.Inset{Bottom: unit.Dp(6)}.Layout(gtx, func(gtx C) D {
				l := material.Body2(u.th, msg)
				l.Color = c
				return l.Layout(gtx)
			})
		}))
	}
	switch {
	case !have:
		quiet(u.lang.T(i18n.Checking), grey)
	default:
		if !st.Online {
			banner(u.lang.T(i18n.NoInternet), nil, "")
		}
		switch {
		case !st.RelayChecked:
		case st.Untrusted:
			banner(u.lang.T(i18n.RelayUntrusted, st.Fingerprint), &u.pinBtn, u.lang.T(i18n.Pin))
		case !st.RelayUp:
			banner(u.lang.T(i18n.RelayUnreachable, u.reasonText(st.RelayErr)), nil, "")
		default:
			quiet(u.lang.T(i18n.RelayOK, st.RTT.Round(100*time.Microsecond)), green)
		}
	}
	if listsErr != nil {
		quiet(listsErr.Error(), red)
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx, rows...)
}

func (u *UI) layoutForm(gtx C) D {
	lists := u.lists
	live := u.bc != nil
	var items []layout.Widget
	heading := func(m i18n.Msg) {
		items = append(items, func(gtx C) D {
			return layout.Inset{Top: unit.Dp(4), Bottom: unit.Dp(2)}.Layout(gtx, material.Subtitle2(u.th, u.lang.T(m)).Layout)
		})
	}
	// selector is one device list: its heading, then a radio button a
	// choice, the file path under "A file…" when that is chosen.
	selector := func(title i18n.Msg, list []devices.Entry, group, none *widget.Enum, fileEd *widget.Editor, cur devices.Entry, test i18n.Msg) layout.Widget {
		return func(gtx C) D {
			if live {
				gtx = gtx.Disabled()
			}
			rows := []layout.FlexChild{layout.Rigid(func(gtx C) D {
				return layout.Inset{Top: unit.Dp(4), Bottom: unit.Dp(2)}.Layout(gtx, material.Subtitle2(u.th, u.lang.T(title)).Layout)
			})}
			for _, e := range list {
				rows = append(rows, layout.Rigid(func(gtx C) D {
					switch e.Kind {
					case devices.None:
						// Not in the group: a disabled radio button of the
						// group would still take clicks.
						r := material.RadioButton(u.th, none, "", u.lang.T(i18n.NoDevice))
						r.Color, r.IconColor = grey, grey
						return r.Layout(gtx.Disabled())
					case devices.File:
						return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
							layout.Rigid(material.RadioButton(u.th, group, "file", u.lang.T(i18n.AFile)).Layout),
							layout.Rigid(func(gtx C) D {
								if cur.Kind != devices.File {
									return D{}
								}
								return layout.Inset{Left: unit.Dp(30), Bottom: unit.Dp(4)}.Layout(gtx, u.editor(fileEd, u.lang.T(i18n.FilePath)))
							}))
					}
					label := e.Label
					switch e.Kind {
					case devices.Test:
						label = u.lang.T(test)
					case devices.Disabled:
						label = u.lang.T(i18n.Off)
					}
					return material.RadioButton(u.th, group, enumKey(e), label).Layout(gtx)
				}))
			}
			return layout.Flex{Axis: layout.Vertical}.Layout(gtx, rows...)
		}
	}
	// The camera and microphone lists side by side keep the whole form in
	// the window.
	cams := selector(i18n.Camera, lists.Cameras, &u.camEnum, &u.noCam, &u.camFile, u.cam, i18n.TestPicture)
	mics := selector(i18n.Microphone, lists.Microphones, &u.micEnum, &u.noMic, &u.micFile, u.mic, i18n.TestTone)
	items = append(items, func(gtx C) D {
		return layout.Flex{}.Layout(gtx, layout.Flexed(0.5, cams), layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout), layout.Flexed(0.5, mics))
	})
	type field struct {
		label  i18n.Msg
		ed     *widget.Editor
		hint   string
		weight float32
	}
	// Two fields a row keep the whole form in the window.
	pair := func(a, b field) {
		items = append(items, func(gtx C) D {
			if live {
				gtx = gtx.Disabled()
			}
			col := func(f field) layout.FlexChild {
				return layout.Flexed(f.weight, func(gtx C) D {
					return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
						layout.Rigid(func(gtx C) D {
							return layout.Inset{Top: unit.Dp(4), Bottom: unit.Dp(2)}.Layout(gtx, material.Subtitle2(u.th, u.lang.T(f.label)).Layout)
						}),
						layout.Rigid(u.editor(f.ed, f.hint)))
				})
			}
			return layout.Flex{}.Layout(gtx, col(a), layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout), col(b))
		})
	}
	pair(field{i18n.Relay, &u.relayEd, "https://relay.example:8443", 0.62}, field{i18n.Stream, &u.streamEd, "demo", 0.38})
	pair(field{i18n.PublishKey, &u.keyEd, "", 0.5}, field{i18n.CAFile, &u.caEd, u.lang.T(i18n.CAFileHint), 0.5})
	heading(i18n.Quality)
	items = append(items, func(gtx C) D {
		if live {
			gtx = gtx.Disabled()
		}
		var row []layout.FlexChild
		for _, s := range sizes {
			row = append(row, layout.Rigid(material.RadioButton(u.th, &u.sizeEnum, s, s).Layout))
		}
		row = append(row, layout.Rigid(layout.Spacer{Width: unit.Dp(12)}.Layout))
		for _, r := range rates {
			row = append(row, layout.Rigid(material.RadioButton(u.th, &u.rateEnum, r, r+" fps").Layout))
		}
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx, row...)
	}, func(gtx C) D {
		if live {
			gtx = gtx.Disabled()
		}
		var row []layout.FlexChild
		for _, b := range bitrates {
			row = append(row, layout.Rigid(material.RadioButton(u.th, &u.bitrateEnum, b, b+" kbit/s").Layout))
		}
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx, row...)
	})
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Flexed(1, func(gtx C) D {
			return material.List(u.th, &u.form).Layout(gtx, len(items), func(gtx C, i int) D { return items[i](gtx) })
		}),
		layout.Rigid(u.layoutButtons))
}

// layoutButtons keeps Start/Stop and Quit in view below the form.
func (u *UI) layoutButtons(gtx C) D {
	live := u.bc != nil
	return layout.Inset{Top: unit.Dp(10)}.Layout(gtx, func(gtx C) D {
		return layout.Flex{}.Layout(gtx,
			layout.Rigid(func(gtx C) D {
				if live {
					b := material.Button(u.th, &u.stopBtn, u.lang.T(i18n.Stop))
					b.Background = red
					return b.Layout(gtx)
				}
				return material.Button(u.th, &u.startBtn, u.lang.T(i18n.Start)).Layout(gtx)
			}),
			layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout),
			layout.Rigid(func(gtx C) D {
				b := material.Button(u.th, &u.quitBtn, u.lang.T(i18n.Quit))
				b.Background, b.Color = panel, black
				return b.Layout(gtx)
			}),
		)
	})
}

func (u *UI) editor(ed *widget.Editor, hint string) layout.Widget {
	return func(gtx C) D {
		return widget.Border{Color: grey, CornerRadius: unit.Dp(3), Width: unit.Dp(1)}.Layout(gtx, func(gtx C) D {
			return layout.UniformInset(unit.Dp(6)).Layout(gtx, func(gtx C) D {
				gtx.Constraints.Min.X = gtx.Constraints.Max.X
				return material.Editor(u.th, ed, hint).Layout(gtx)
			})
		})
	}
}

func (u *UI) layoutStatus(gtx C) D {
	var st broadcast.Status
	var img *image.RGBA
	level := math.Inf(-1)
	if u.bc != nil {
		st = u.bc.Status()
		img = u.bc.Preview()
		level = u.bc.Level()
	} else {
		u.bg.mu.Lock()
		img = u.bg.idlePreview
		u.bg.mu.Unlock()
	}
	if !u.showPreview.Value {
		img = nil
	}
	rows := []layout.FlexChild{
		layout.Rigid(func(gtx C) D { return u.layoutPreview(gtx, img) }),
		layout.Rigid(material.CheckBox(u.th, &u.showPreview, u.lang.T(i18n.Preview)).Layout),
		layout.Rigid(layout.Spacer{Height: unit.Dp(4)}.Layout),
	}
	line := func(label, value string, c color.NRGBA) {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			return u.statusRow(gtx, label, func(gtx C) D {
				l := material.Body2(u.th, value)
				l.Color = c
				return l.Layout(gtx)
			})
		}))
	}
	state, stateColor := u.lang.T(i18n.StatusIdle), black
	switch {
	case u.bc != nil && st.State == broadcast.Starting:
		state = u.lang.T(i18n.StatusStarting)
	case u.bc != nil && st.State == broadcast.Live:
		state, stateColor = u.lang.T(i18n.StatusLive), green
	case u.bc != nil && st.State == broadcast.Reconnecting:
		in := 0
		if !st.Link.Next.IsZero() {
			in = max(0, int(math.Ceil(st.Link.Next.Sub(u.now()).Seconds())))
		}
		state, stateColor = u.lang.T(i18n.StatusReconnecting, max(1, st.Link.Attempt), in), red
	case u.bcErr != "":
		state, stateColor = u.lang.T(i18n.StatusFailed), red
	}
	rows = append(rows, layout.Rigid(func(gtx C) D {
		l := material.H6(u.th, state)
		l.Color = stateColor
		return l.Layout(gtx)
	}))
	if u.bcErr != "" {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			l := material.Body2(u.th, u.bcErr)
			l.Color = red
			return l.Layout(gtx)
		}))
	}
	if u.bcLive && u.bc == nil {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			return layout.Inset{Top: unit.Dp(4)}.Layout(gtx, material.Button(u.th, &u.takeoverBtn, u.lang.T(i18n.Takeover)).Layout)
		}))
	}
	if u.bc != nil && st.State == broadcast.Reconnecting && st.Link.Err != nil {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			l := material.Body2(u.th, st.Link.Err.Error())
			l.Color = grey
			return l.Layout(gtx)
		}))
	}
	if u.bc != nil && st.State == broadcast.Live {
		s := st.Stats
		line(u.lang.T(i18n.Elapsed), fmtElapsed(u.now().Sub(st.Started)), black)
		line(u.lang.T(i18n.VideoStat), fmt.Sprintf("%d×%d  %.0f fps  %.0f kbit/s", s.Width, s.Height, s.Video.FPS, s.Video.BitrateKbps), black)
		rows = append(rows, layout.Rigid(func(gtx C) D {
			return u.statusRow(gtx, u.lang.T(i18n.AudioLevel), func(gtx C) D { return meter(gtx, level) })
		}))
		line(u.lang.T(i18n.PacketsSent), strconv.FormatUint(s.Video.Packets+s.Audio.Packets, 10), black)
		line(u.lang.T(i18n.LossReported), fmt.Sprintf("%.1f %%  (%d)", 100*s.Video.FractionLost, s.Video.CumulativeLost+s.Audio.CumulativeLost), black)
		viewers := "–"
		if s.Viewers >= 0 {
			viewers = strconv.Itoa(s.Viewers)
		}
		line(u.lang.T(i18n.Viewers), viewers, black)
		rows = append(rows, layout.Rigid(func(gtx C) D {
			return layout.Inset{Top: unit.Dp(6)}.Layout(gtx, func(gtx C) D {
				return u.statusRow(gtx, u.lang.T(i18n.ViewerLink), func(gtx C) D {
					return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
						layout.Flexed(1, material.Body2(u.th, st.WatchURL).Layout),
						layout.Rigid(func(gtx C) D {
							txt := u.lang.T(i18n.Copy)
							if u.now().Sub(u.copiedAt) < 2*time.Second {
								txt = u.lang.T(i18n.Copied)
							}
							return material.Button(u.th, &u.copyBtn, txt).Layout(gtx)
						}))
				})
			})
		}))
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx, rows...)
}

// reasonText says why the relay is unreachable in the window's language;
// errors netcheck does not sort stay as they are.
func (u *UI) reasonText(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, netcheck.ErrTimeout):
		return u.lang.T(i18n.ReasonTimeout)
	case errors.Is(err, netcheck.ErrRefused):
		return u.lang.T(i18n.ReasonRefused)
	case errors.Is(err, netcheck.ErrNoRoute):
		return u.lang.T(i18n.ReasonNoRoute)
	case errors.Is(err, netcheck.ErrIntercepted):
		return u.lang.T(i18n.ReasonIntercepted)
	case errors.Is(err, netcheck.ErrName):
		return u.lang.T(i18n.ReasonName, strings.TrimPrefix(err.Error(), netcheck.ErrName.Error()+": "))
	}
	return err.Error()
}

// statusRow lays out one line of the status panel: a grey label in a
// 150 dp column, then value.
func (u *UI) statusRow(gtx C, label string, value layout.Widget) D {
	return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
		layout.Rigid(func(gtx C) D {
			gtx.Constraints.Min.X = gtx.Dp(150)
			l := material.Body2(u.th, label)
			l.Color = grey
			return l.Layout(gtx)
		}),
		layout.Flexed(1, value))
}

// layoutPreview draws the self view in a 4:3 box; a new ImageOp per new
// frame, since Gio uploads an ImageOp's image once.
func (u *UI) layoutPreview(gtx C, img *image.RGBA) D {
	w := gtx.Constraints.Max.X
	h := w * 3 / 4
	if mh := gtx.Constraints.Max.Y / 2; h > mh {
		h = mh
	}
	size := image.Pt(w, h)
	paint.FillShape(gtx.Ops, black, clip.Rect{Max: size}.Op())
	if img == nil {
		msg := i18n.PreviewOff
		if !u.showPreview.Value {
			msg = i18n.PreviewHidden
		}
		l := material.Body2(u.th, u.lang.T(msg))
		l.Color = grey
		gtx.Constraints = layout.Exact(size)
		layout.Center.Layout(gtx, l.Layout)
		return D{Size: size}
	}
	if img != u.preview {
		u.preview, u.previewOp = img, paint.NewImageOp(img)
	}
	gtx.Constraints = layout.Exact(size)
	widget.Image{Src: u.previewOp, Fit: widget.Contain, Position: layout.Center, Scale: 1 / gtx.Metric.PxPerDp}.Layout(gtx)
	return D{Size: size}
}

// meter draws a peak meter from -60 to 0 dBFS.
func meter(gtx C, dbfs float64) D {
	size := image.Pt(gtx.Constraints.Max.X, gtx.Dp(10))
	paint.FillShape(gtx.Ops, panel, clip.Rect{Max: size}.Op())
	frac := 0.0
	if !math.IsInf(dbfs, -1) {
		frac = math.Max(0, math.Min(1, (dbfs+60)/60))
	}
	c := meterFill
	if dbfs > -3 {
		c = red
	}
	paint.FillShape(gtx.Ops, c, clip.Rect{Max: image.Pt(int(frac*float64(size.X)), size.Y)}.Op())
	return D{Size: size}
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
