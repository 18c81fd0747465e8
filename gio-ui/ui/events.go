package ui

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gioui.org/io/clipboard"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/widget"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
	"github.com/quicast/quicast/sender/peercall"
)

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
	live := u.live()
	if u.modeEnum.Update(gtx) {
		if live {
			u.modeEnum.Value = u.set.Mode // not while live
		} else {
			u.bcErr, u.bcLive = "", false
			u.save()
		}
	}
	callMode := u.modeEnum.Value == modeCall
	if u.viaEnum.Update(gtx) {
		if live {
			u.viaEnum.Value = u.set.CallVia
		} else {
			u.bcErr = ""
			u.save()
		}
	}
	if u.ringMe.Update(gtx) {
		u.save()
	}
	u.ringerSteps(gtx, callMode && u.viaEnum.Value == viaRelay && u.ringMe.Value && !u.live())
	if u.answerRelayBtn.Clicked(gtx) && u.ringer != nil && !u.live() {
		if ring, ok, _, _ := u.ringer.status(); ok {
			u.roomEd.SetText(ring.Room)
			u.ringer.respond(ring.ID, true, func(err error) {
				if err != nil {
					u.log.Info("answer not taken", "err", err)
				}
			})
			u.startCall()
		}
	}
	if u.declineRelayBtn.Clicked(gtx) && u.ringer != nil {
		if ring, ok, _, _ := u.ringer.status(); ok {
			u.ringer.respond(ring.ID, false, func(error) {})
		}
	}
	if u.inviteBtn.Clicked(gtx) && u.call != nil && !u.call.direct {
		if who := strings.TrimSpace(u.inviteEd.Text()); who != "" {
			u.call.invite(who)
		}
	}
	u.cam.update(gtx, lists.Cameras, haveLists, live)
	u.mic.update(gtx, lists.Microphones, haveLists, live)

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
	if u.answerBtn.Clicked(gtx) && u.lan != nil && !u.live() {
		if in := u.lan.take(); in != nil {
			u.save()
			u.bcErr, u.sending, u.callEnded = "", false, ""
			u.call = startDirectCall(directConfig{Name: u.callName(), Incoming: in, Port: u.lan.l.Port(),
				Video: u.cam.source().Type != media.SourceNone, Audio: u.mic.source().Type != media.SourceNone,
				Speaker: u.cfg.Speaker, Echo: u.cancelEcho(), Logger: u.log}, u.invalidate)
		}
	}
	if u.declineBtn.Clicked(gtx) && u.lan != nil {
		if in := u.lan.take(); in != nil {
			in.Decline()
		}
	}
	if u.startBtn.Clicked(gtx) && !u.live() {
		if callMode {
			u.startCall()
		} else {
			u.startBroadcast(false)
		}
	}
	if u.takeoverBtn.Clicked(gtx) && u.bc == nil && u.bcLive {
		u.startBroadcast(true)
	}
	if u.muteBtn.Clicked(gtx) && u.bc != nil {
		u.bc.SetMuted(!u.bc.Muted())
	}
	if u.cameraBtn.Clicked(gtx) && u.bc != nil {
		u.bc.SetCameraOff(!u.bc.CameraOff())
	}
	if u.stopBtn.Clicked(gtx) && u.live() {
		u.hangUp()
		if u.bc != nil {
			u.stopBroadcast()
		}
	}
	u.callSteps()
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
	// After the call's steps: a call that ended in this frame frees the
	// listener for the next caller at once.
	u.lanSteps(callMode && u.viaEnum.Value == viaDirect)
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
		u.wantPreview(u.cam.source())
	} else {
		u.wantPreview(media.Source{})
	}
}

func (u *UI) startBroadcast(takeover bool) {
	stream, key := strings.TrimSpace(u.streamEd.Text()), strings.TrimSpace(u.keyEd.Text())
	if u.relayTarget().URL == "" || stream == "" || key == "" {
		u.bcErr = u.lang.T(i18n.ErrFields)
		return
	}
	u.save()
	u.bcErr, u.bcLive = "", false
	u.startSending(stream, key, takeover, nil)
}

// startSending starts this side's broadcast of stream with key, or, with
// peer, straight to the other side of a direct call.
func (u *UI) startSending(stream, key string, takeover bool, peer *sender.Session) {
	target := u.relayTarget()
	relay := target.URL
	var w, h int
	fmt.Sscanf(u.sizeEnum.Value, "%dx%d", &w, &h)
	fps, _ := strconv.Atoi(u.rateEnum.Value)
	kbps, _ := strconv.Atoi(u.bitrateEnum.Value)
	opts := media.Options{Width: w, Height: h, FPS: float64(fps), VideoBitrate: kbps * 1000}
	if u.call != nil {
		opts.Echo = u.call.echoCapture()
	}
	// The camera is opened once: the idle preview lets go of it first.
	u.wantPreview(media.Source{})
	u.bc = broadcast.Start(broadcast.Config{
		PublishConfig: sender.PublishConfig{Relay: relay, Stream: stream, Key: key, CAFile: target.CAFile, Pin: target.Pin,
			Takeover: takeover},
		Video:          u.cam.source(),
		Audio:          u.mic.source(),
		Options:        opts,
		Logger:         u.cfg.Logger,
		Changed:        u.invalidate,
		PreviewChanged: u.selfViewChanged,
		HidePreview:    !u.showPreview.Value,
		Peer:           peer,
	})
}

// startCall joins the room: the call logs in and joins in the background
// (callSteps starts this side's broadcast with what the join gives) and
// watches the other participant.
func (u *UI) startCall() {
	if u.viaEnum.Value == viaDirect {
		addr, code := strings.TrimSpace(u.peerAddrEd.Text()), strings.ReplaceAll(strings.TrimSpace(u.peerCodeEd.Text()), " ", "")
		if addr == "" || code == "" || strings.TrimSpace(u.userEd.Text()) == "" {
			u.bcErr = u.lang.T(i18n.ErrDirectFields)
			return
		}
		u.save()
		u.bcErr, u.bcLive, u.sending, u.callEnded = "", false, false, ""
		u.log.Info("calling directly", "addr", addr)
		u.call = startDirectCall(directConfig{Name: u.callName(), Addr: addr, Code: code,
			Video: u.cam.source().Type != media.SourceNone, Audio: u.mic.source().Type != media.SourceNone,
			Speaker: u.cfg.Speaker, Echo: u.cancelEcho(), Logger: u.log}, u.invalidate)
		return
	}
	target := u.relayTarget()
	room, user, pass := strings.TrimSpace(u.roomEd.Text()), strings.TrimSpace(u.userEd.Text()), u.passEd.Text()
	if target.URL == "" || room == "" || user == "" || pass == "" {
		u.bcErr = u.lang.T(i18n.ErrCallFields)
		return
	}
	u.save()
	u.bcErr, u.bcLive, u.sending = "", false, false
	u.call = startCall(callConfig{Relay: target.URL, CAFile: target.CAFile, Pin: target.Pin, Room: room,
		User: user, Password: pass, Speaker: u.cfg.Speaker, Echo: u.cancelEcho(), Logger: u.cfg.Logger}, u.invalidate)
}

// callSteps moves a call on, once a frame: once joined, this side's
// broadcast starts with the stream and key of the join (taking over this
// user's stream from an earlier session of theirs); a call that failed,
// or whose broadcast half ended, hangs up.
func (u *UI) callSteps() {
	if u.call == nil {
		return
	}
	if err := u.call.failed(); err != nil {
		u.hangUp()
		if u.bc != nil {
			u.stopBroadcast()
		}
		u.bcErr = u.lang.T(i18n.ErrCall, err)
		if errors.Is(err, peercall.ErrHungUp) || errors.Is(err, peercall.ErrDeclined) || errors.Is(err, peercall.ErrNoAnswer) {
			u.bcErr, u.callEnded = "", u.lang.T(i18n.CallHungUp, err) // how calls end, not a fault
		}
		return
	}
	if u.bc != nil {
		return
	}
	if u.sending {
		u.hangUp() // the broadcast half ended: its reason is shown
		return
	}
	if ps, ok := u.call.peerSession(); ok {
		u.sending = true
		u.startSending("", "", false, &ps)
		if u.bc == nil {
			u.hangUp()
		}
		return
	}
	if j, ok := u.call.joined(); ok {
		u.sending = true
		u.startSending(j.Stream, j.PublishKey, true, nil)
		if u.bc == nil {
			u.hangUp()
		}
	}
}

// cancelEcho tells whether a call cancels the speaker's echo in the
// microphone: with a real microphone (a test tone or a file hears no
// speaker).
func (u *UI) cancelEcho() bool { return u.mic.source().Type == media.SourceDevice }

// callName is this side's name in a call: the account name in the form.
func (u *UI) callName() string {
	if n := strings.TrimSpace(u.userEd.Text()); n != "" {
		return n
	}
	return "quicast"
}

// lanSteps keeps the direct-call listener running while want (Call →
// Direct chosen), and tells it when this side is busy.
func (u *UI) lanSteps(want bool) {
	switch {
	case want && u.lan == nil && u.lanErr == nil:
		u.lan, u.lanErr = listenForCalls(u.cfg.CallPort, u.invalidate, u.log)
		if u.lan != nil {
			ls := u.lan.status()
			u.log.Info("taking direct calls", "port", ls.Port, "code", ls.Code)
		}
	case !want && u.lan != nil:
		u.lan.close()
		u.lan = nil
	case !want:
		u.lanErr = nil
	}
	if u.lan != nil {
		u.lan.setBusy(u.live())
	}
}

// ringerSteps keeps the relay ringer running while want, started again
// when the relay or the account in the form changed.
//
// It is not restarted at every key while the account is being typed — each
// start is a login, and the relay limits those — but once the fields have
// stayed the same for ringerSettle.
func (u *UI) ringerSteps(gtx layout.Context, want bool) {
	target := u.relayTarget()
	user, pass := strings.TrimSpace(u.userEd.Text()), u.passEd.Text()
	key := target.URL + "\x00" + target.CAFile + "\x00" + target.Pin + "\x00" + user + "\x00" + pass
	want = want && target.URL != "" && user != "" && pass != ""
	now := u.now()
	if key != u.ringerTyped {
		u.ringerTyped, u.ringerTypedAt = key, now
	}
	settled := now.Sub(u.ringerTypedAt) >= ringerSettle
	if want && !settled {
		gtx.Execute(op.InvalidateCmd{At: u.ringerTypedAt.Add(ringerSettle)})
	}
	if u.ringer != nil && (!want || (settled && key != u.ringerKey)) {
		u.ringer.close()
		u.ringer = nil
	}
	if want && settled && u.ringer == nil {
		u.ringer, u.ringerKey = startRinger(target.URL, target.CAFile, target.Pin, user, pass, u.invalidate), key
	}
}

// ringerSettle is how long the account fields stay the same before the
// ringer logs in with them.
const ringerSettle = time.Second

// hangUp ends the call's receiving half.
func (u *UI) hangUp() {
	if u.call != nil {
		u.call.stop()
		u.call = nil
	}
}

func (u *UI) stopBroadcast() {
	u.bc.Stop()
	u.bcErr = u.problemText(u.bc.Status())
	u.bc = nil
}
