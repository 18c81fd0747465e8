// Package ui is the quicast desktop window: device selectors, network
// status, broadcast settings, Start/Stop, live status and a self view. The
// UI type owns every widget's state (this file: the model, its settings);
// it handles the last frame's input (events.go) and lays the window out
// once per frame — the form (form.go, with a deviceSelector each for
// cameras and microphones, selector.go) beside the status panel
// (status.go), in words from wording.go. The device watcher, the network
// checker, the preview reader and the broadcast run in their own
// goroutines (loops.go) and hand their results over under a mutex.
package ui

import (
	"image"
	"image/color"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gioui.org/font/gofont"
	"gioui.org/layout"
	"gioui.org/op/paint"
	"gioui.org/text"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/devices"
	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/gio-ui/netcheck"
	"github.com/quicast/quicast/gio-ui/receive"
	"github.com/quicast/quicast/gio-ui/settings"
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
	// ViewerPassword, when set, fills the call's password of this side's
	// account on the relay (from -viewer-password-file or
	// $QUICAST_VIEWER_PASSWORD); never saved.
	ViewerPassword string
	// Speaker, when set, opens the sound output of a call (tests: a null
	// device); default the system's.
	Speaker func(receive.Sound) (*receive.Speaker, error)
	// CallPort is the port direct calls come to (TCP and UDP); 0:
	// peercall.DefaultPort. When it is taken, any free one.
	CallPort int
	// Key, when set, is the publish key from the command line's -key-file
	// or $QUICAST_KEY: shown in the form, not written to the settings.
	Key string
}

// How a call goes: through a relay's room, or straight to the other side.
const (
	viaRelay  = "relay"
	viaDirect = "direct"
)

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

	cam, mic                                                 deviceSelector
	sizeEnum, rateEnum, bitrateEnum, langEnum, modeEnum      widget.Enum
	relayEd, streamEd, keyEd, caEd                           widget.Editor
	roomEd, userEd, passEd                                   widget.Editor // call mode
	viaEnum                                                  widget.Enum   // call mode: through a relay, or direct
	peerAddrEd, peerCodeEd                                   widget.Editor // a direct call's other side
	answerBtn, declineBtn                                    widget.Clickable
	ringMe                                                   widget.Bool      // wait for calls through the relay
	answerRelayBtn, declineRelayBtn, inviteBtn               widget.Clickable // calls through the relay
	inviteEd                                                 widget.Editor    // whom to call to the room
	startBtn, stopBtn, quitBtn, copyBtn, pinBtn, takeoverBtn widget.Clickable
	muteBtn, cameraBtn                                       widget.Clickable // in a call
	form                                                     widget.List
	callPanel                                                widget.List // in place of the form during a call
	showPreview                                              widget.Bool

	lists devices.Lists // as of this frame

	bg            shared // filled by the background goroutines
	bc            *broadcast.Broadcast
	call          *call        // in call mode, while a call runs
	sending       bool         // the call's broadcast half was started
	lan           *lanListener // takes direct calls while Call → Direct is chosen
	lanErr        error        // why it cannot
	ringer        *ringer      // waits for calls through the relay while "Ring me here" is on
	ringerKey     string       // the relay, user and password it was started with
	ringerTyped   string       // the fields as last seen,
	ringerTypedAt time.Time    // and since when
	bcErr         string       // the words for the last broadcast's failure
	bcLive        bool         // it failed because another sender is live: offer to take over
	callEnded     string       // how the last call ended (hung up, declined, no answer)
	copiedAt      time.Time
	quit          bool
	editing       [2]bool // the relay and CA fields had the focus last frame

	preview     *image.RGBA // the frame previewOp was made from
	previewOp   paint.ImageOp
	selfPreview *image.RGBA // in a call, the frame selfOp was made from
	selfBox     image.Point // and the box it was made to fit
	selfOp      paint.ImageOp
	tiles       map[string]tileOp // in a call of three or more: each other participant's picture, by name
	invalidate  func()
	// Set by each frame, for selfViewChanged: when it was drawn (unix ns)
	// and whether it showed others' pictures of a call.
	drawnAt     atomic.Int64
	drewOthers  atomic.Bool
	previewWant chan media.Source
	recheck     chan struct{} // a relay check at once (checkRelayNow)
	// linkDown is whether the broadcast or call was reconnecting at the
	// last frame: a change re-checks the relay (Layout).
	linkDown bool
	now      func() time.Time
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
	for _, ed := range []*widget.Editor{&u.relayEd, &u.streamEd, &u.keyEd, &u.caEd, &u.roomEd, &u.userEd, &u.passEd, &u.peerAddrEd, &u.peerCodeEd, &u.inviteEd} {
		ed.SingleLine = true
	}
	u.relayEd.Submit, u.caEd.Submit = true, true
	u.keyEd.Mask, u.passEd.Mask = '•', '•'
	u.modeEnum.Value = pick(set.Mode, []string{modeBroadcast, modeCall}, modeBroadcast)
	u.roomEd.SetText(set.Room)
	u.viaEnum.Value = pick(set.CallVia, []string{viaRelay, viaDirect}, viaRelay)
	u.peerAddrEd.SetText(set.PeerAddr)
	u.ringMe.Value = set.RingMe
	u.userEd.SetText(set.CallUser)
	u.passEd.SetText(cfg.ViewerPassword)
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
	u.cam = newDeviceSelector(i18n.Camera, i18n.TestPicture, set.Camera)
	u.mic = newDeviceSelector(i18n.Microphone, i18n.TestTone, set.Microphone)
	u.form.Axis, u.callPanel.Axis = layout.Vertical, layout.Vertical
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

// relayTarget is the relay of the form and how to trust it: by the CA
// file when one is given, else by the pin saved for this relay.
func (u *UI) relayTarget() netcheck.Relay {
	url := strings.TrimRight(strings.TrimSpace(u.relayEd.Text()), "/")
	if ca := strings.TrimSpace(u.caEd.Text()); ca != "" {
		return netcheck.Relay{URL: url, CAFile: ca}
	}
	return netcheck.Relay{URL: url, Pin: u.set.Pin(url)}
}

// The window's modes: a broadcast to many, or a call with one other side.
const (
	modeBroadcast = "broadcast"
	modeCall      = "call"
)

// Shutdown stops the broadcast and the call, if any, and saves the settings.
// live reports whether a broadcast or a call is on: the form is locked.
func (u *UI) live() bool { return u.bc != nil || u.call != nil }

func (u *UI) Shutdown() {
	if u.ringer != nil {
		u.ringer.close()
		u.ringer = nil
	}
	if u.lan != nil {
		u.lan.close()
		u.lan = nil
	}
	if u.call != nil {
		u.call.stop()
		u.call = nil
	}
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
	u.set.Camera = u.cam.setting()
	u.set.Microphone = u.mic.setting()
	u.set.Size = u.sizeEnum.Value
	u.set.FPS, _ = strconv.Atoi(u.rateEnum.Value)
	u.set.BitrateKbps, _ = strconv.Atoi(u.bitrateEnum.Value)
	u.set.Language = u.lang.Code()
	u.set.Mode = u.modeEnum.Value
	u.set.Room = strings.TrimSpace(u.roomEd.Text())
	u.set.CallVia = u.viaEnum.Value
	u.set.PeerAddr = strings.TrimSpace(u.peerAddrEd.Text())
	u.set.RingMe = u.ringMe.Value
	u.set.CallUser = strings.TrimSpace(u.userEd.Text()) // the password is not kept
	if err := settings.Save(u.cfg.ConfigDir, u.set); err != nil {
		u.log.Warn("settings not saved", "err", err)
	}
}
