package ui

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
	"time"

	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/op/clip"
	"gioui.org/op/paint"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender"
)

// liveView is what the picture box and the status rows show this frame.
type liveView struct {
	st       broadcast.Status // of the broadcast, while there is one
	img      *image.RGBA      // the box's picture: the self view, or theirs in a call; nil: none
	emptyMsg i18n.Msg         // what the box says without img
	self     *image.RGBA      // in a call: this side's picture, small in a corner or a tile
	level    float64          // the microphone's peak, dBFS
	cs       callStatus       // in a call
}

// liveView gathers what this frame shows: the broadcast's state and
// preview, or the idle preview; in a call the call's drawStatus (their
// latest frames become their pictures) and a redraw within the second.
func (u *UI) liveView(gtx C) liveView {
	v := liveView{level: math.Inf(-1), emptyMsg: i18n.PreviewOff}
	if u.bc != nil {
		v.st = u.bc.Status()
		v.img = u.bc.Preview()
		v.level = u.bc.Level()
	} else {
		u.bg.mu.Lock()
		v.img = u.bg.idlePreview
		u.bg.mu.Unlock()
	}
	if !u.showPreview.Value {
		v.img, v.emptyMsg = nil, i18n.PreviewHidden
	}
	if u.call != nil {
		// In a call the box shows their picture, once it comes.
		v.cs = u.call.drawStatus()
		v.self = v.img
		v.img, v.emptyMsg = v.cs.Picture, i18n.CallWaiting
		// Drawn again within the second: its duration and a silence
		// change with nothing coming in to redraw the window.
		gtx.Execute(op.InvalidateCmd{At: gtx.Now.Add(time.Second)})
	}
	return v
}

// checkBoxRoom is the height left under the picture box for the self-view
// check box.
const checkBoxRoom = unit.Dp(40)

// layoutPictureBox draws the picture box (layoutPreview) as high as the
// constraints allow and the self-view check box under it.
func (u *UI) layoutPictureBox(gtx C, v liveView) D {
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx C) D {
			gtx.Constraints.Max.Y -= gtx.Dp(checkBoxRoom)
			return u.layoutPreview(gtx, v.img, v.emptyMsg, v.self, v.cs.Parties)
		}),
		layout.Rigid(material.CheckBox(u.th, &u.showPreview, u.lang.T(i18n.Preview)).Layout))
}

// layoutStatus is the right-hand panel outside a call: the picture box,
// half the panel high at most, and the status rows under it.
func (u *UI) layoutStatus(gtx C, v liveView) D {
	rows := []layout.FlexChild{
		layout.Rigid(func(gtx C) D {
			gtx.Constraints.Max.Y = gtx.Constraints.Max.Y/2 + gtx.Dp(checkBoxRoom)
			return u.layoutPictureBox(gtx, v)
		}),
		layout.Rigid(layout.Spacer{Height: unit.Dp(4)}.Layout),
	}
	rows = append(rows, u.statusRows(v)...)
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx, rows...)
}

// statusRows is the state of the broadcast or call as rows of the
// status panel: the state, why it failed, calls ringing, the figures.
func (u *UI) statusRows(v liveView) []layout.FlexChild {
	st, cs, level := v.st, v.cs, v.level
	var rows []layout.FlexChild
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
	case u.callEnded != "" && u.call == nil:
		state = u.lang.T(i18n.CallEnded)
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
	if u.callEnded != "" && u.call == nil && u.bcErr == "" {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			l := material.Body2(u.th, u.callEnded)
			l.Color = grey
			return l.Layout(gtx)
		}))
	}
	if u.ringer != nil {
		ring, ok, missed, err := u.ringer.status()
		if err != nil {
			line("", u.lang.T(i18n.ErrRinger, err), red)
		}
		if ok {
			rows = append(rows, layout.Rigid(func(gtx C) D {
				return layout.Inset{Top: unit.Dp(6), Bottom: unit.Dp(4)}.Layout(gtx, func(gtx C) D {
					l := material.H6(u.th, u.lang.T(i18n.CallsYouTo, ring.From, ring.Room))
					l.Color = green
					return l.Layout(gtx)
				})
			}), layout.Rigid(func(gtx C) D {
				answer := material.Button(u.th, &u.answerRelayBtn, u.lang.T(i18n.Answer))
				answer.Background = green
				decline := material.Button(u.th, &u.declineRelayBtn, u.lang.T(i18n.Decline))
				decline.Background = red
				return layout.Flex{}.Layout(gtx, layout.Rigid(answer.Layout),
					layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout), layout.Rigid(decline.Layout))
			}))
		}
		for _, m := range missed[max(0, len(missed)-3):] {
			at := m.At
			if t, err := time.Parse(time.RFC3339, m.At); err == nil {
				at = t.Local().Format("15:04")
			}
			line("", u.lang.T(i18n.MissedCallRoom, m.From, m.Room, at), red)
		}
	}
	if u.lan != nil {
		ls := u.lan.status()
		if ls.Ringing != "" {
			rows = append(rows, layout.Rigid(func(gtx C) D {
				return layout.Inset{Top: unit.Dp(6), Bottom: unit.Dp(4)}.Layout(gtx, func(gtx C) D {
					l := material.H6(u.th, u.lang.T(i18n.Ringing, ls.Ringing))
					l.Color = green
					return l.Layout(gtx)
				})
			}), layout.Rigid(func(gtx C) D {
				if u.live() {
					return D{}
				}
				answer := material.Button(u.th, &u.answerBtn, u.lang.T(i18n.Answer))
				answer.Background = green
				decline := material.Button(u.th, &u.declineBtn, u.lang.T(i18n.Decline))
				decline.Background = red
				return layout.Flex{}.Layout(gtx, layout.Rigid(answer.Layout),
					layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout), layout.Rigid(decline.Layout))
			}))
		}
		for _, m := range ls.Missed {
			line("", u.lang.T(i18n.MissedCall, m.Name, m.At.Format("15:04")), red)
		}
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
		if u.call != nil {
			// In a call: the other side's rows instead of the audience's.
			u.callRows(&rows, cs, st.Stats, line)
			return rows
		}
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
	if u.call != nil {
		u.callRows(&rows, cs, st.Stats, line)
	}
	return rows
}

// callRows adds the call's state, the network of this side's sending
// (s) and the other side's picture and sound to the status panel.
func (u *UI) callRows(rows *[]layout.FlexChild, cs callStatus, s sender.Stats, line func(label, value string, c color.NRGBA)) {
	state, c := u.lang.T(i18n.CallConnecting), black
	switch {
	case cs.Err != nil:
		state, c = u.lang.T(i18n.ErrCall, cs.Err), red
	case cs.Reconnect > 0:
		state, c = u.lang.T(i18n.CallReconnecting, cs.Reconnect), red
	case cs.Alone:
		state = u.lang.T(i18n.CallAlone, cs.Room)
	case cs.Connected && cs.Frames == 0:
		state = u.lang.T(i18n.CallWaiting)
	case cs.Connected && len(cs.Parties) == 1 && cs.Silent > 0:
		state, c = u.lang.T(i18n.CallSilent, cs.Them, int(cs.Silent/time.Second)), red
	case cs.Connected:
		state, c = u.lang.T(i18n.CallIn, strings.Join(cs.Others, ", "))+"  "+fmtElapsed(u.now().Sub(cs.Started)), green
	}
	*rows = append(*rows, layout.Rigid(layout.Spacer{Height: unit.Dp(6)}.Layout), layout.Rigid(func(gtx C) D {
		l := material.Body1(u.th, state)
		l.Color = c
		return l.Layout(gtx)
	}))
	if cs.Reconnect > 0 && cs.LastErr != nil {
		line("", cs.LastErr.Error(), grey)
	}
	if u.bc != nil {
		// This side's sending (s: its broadcast's figures): the round trip
		// and loss from the receiver reports of the relay, or of the other
		// side in a direct call.
		rtt := "–"
		if r := max(s.Audio.RTT, s.Video.RTT); r > 0 {
			rtt = fmt.Sprintf("%d ms", max(1, r.Milliseconds()))
		}
		line(u.lang.T(i18n.Network), u.lang.T(i18n.NetworkStat, rtt, 100*max(s.Video.FractionLost, s.Audio.FractionLost),
			s.Video.BitrateKbps+s.Audio.BitrateKbps), black)
	}
	if u.call != nil && !u.call.direct && u.bc != nil {
		// Calling someone to the room: their windows and pages ring.
		*rows = append(*rows, layout.Rigid(func(gtx C) D {
			return layout.Inset{Top: unit.Dp(4), Bottom: unit.Dp(4)}.Layout(gtx, func(gtx C) D {
				return u.statusRow(gtx, u.lang.T(i18n.CallSomeone), func(gtx C) D {
					return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
						layout.Flexed(1, editor(u.th, &u.inviteEd, "")),
						layout.Rigid(layout.Spacer{Width: unit.Dp(6)}.Layout),
						layout.Rigid(material.Button(u.th, &u.inviteBtn, u.lang.T(i18n.Ring)).Layout))
				})
			})
		}))
		if iv := cs.Inviting; iv != nil {
			switch {
			case iv.Err != nil:
				line("", u.lang.T(i18n.ErrInvite, iv.User, iv.Err), red)
			case iv.State == protocol.InviteRinging:
				line("", u.lang.T(i18n.InviteRinging, iv.User), black)
			case iv.State == protocol.InviteAnswered:
				line("", u.lang.T(i18n.InviteAnswered, iv.User), green)
			case iv.State == protocol.InviteDeclined:
				line("", u.lang.T(i18n.InviteDeclined, iv.User), grey)
			case iv.State == protocol.InviteMissed:
				line("", u.lang.T(i18n.InviteMissed, iv.User), grey)
			}
		}
	}
	if cs.SpeakErr != nil {
		line("", u.lang.T(i18n.ErrSpeaker, cs.SpeakErr), grey)
	}
	for _, p := range cs.Parties {
		if len(cs.Parties) > 1 {
			*rows = append(*rows, layout.Rigid(func(gtx C) D {
				l := material.Body1(u.th, p.Them)
				if p.Level > speakingLevel {
					l.Color = green
				}
				return layout.Inset{Top: unit.Dp(4)}.Layout(gtx, l.Layout)
			}))
		}
		if p.VideoErr != nil {
			line("", p.VideoErr.Error(), red)
		}
		if p.Silent > 0 && len(cs.Parties) > 1 {
			line("", u.lang.T(i18n.CallSilent, p.Them, int(p.Silent/time.Second)), red)
		}
		if !p.Connected || cs.Err != nil {
			if p.Lost > 0 && len(cs.Parties) > 1 {
				line("", u.lang.T(i18n.CallPartyLost), red)
			}
			continue
		}
		line(u.lang.T(i18n.TheirPicture), u.lang.T(i18n.TheirPictureStat, p.Delay.Milliseconds(), p.Frames, p.Kbps), black)
		line(u.lang.T(i18n.TheirSound), u.lang.T(i18n.TheirSoundStat, p.Buffered.Milliseconds(), p.AudioLost), black)
		// Their level, as heard now: a green meter that lights up as
		// they speak.
		*rows = append(*rows, layout.Rigid(func(gtx C) D {
			return u.statusRow(gtx, "", func(gtx C) D { return meter(gtx, p.Level) })
		}))
	}
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

// layoutPreview draws the self view in a 4:3 box — in a call, the other
// participant's picture with self small in a corner, or, when there are
// several, a grid of theirs and self; a new ImageOp per new frame, since
// Gio uploads an ImageOp's image once.
func (u *UI) layoutPreview(gtx C, img *image.RGBA, emptyMsg i18n.Msg, self *image.RGBA, parties []partyStatus) D {
	w := gtx.Constraints.Max.X
	h := w * 3 / 4
	if mh := gtx.Constraints.Max.Y; h > mh {
		h = mh
	}
	size := image.Pt(w, h)
	paint.FillShape(gtx.Ops, black, clip.Rect{Max: size}.Op())
	if len(parties) > 1 {
		u.layoutGrid(gtx, size, parties, self)
		return D{Size: size}
	}
	if u.call != nil {
		u.call.setDrawnBox(size)
	}
	if img == nil {
		l := material.Body2(u.th, u.lang.T(emptyMsg))
		l.Color = grey
		cgtx := gtx
		cgtx.Constraints = layout.Exact(size)
		layout.Center.Layout(cgtx, l.Layout)
	} else {
		if img != u.preview {
			u.preview, u.previewOp = img, paint.NewImageOp(img)
		}
		u.previewOp.Filter = pictureFilter(img.Bounds(), size)
		cgtx := gtx
		cgtx.Constraints = layout.Exact(size)
		widget.Image{Src: u.previewOp, Fit: widget.Contain, Position: layout.Center, Scale: 1 / gtx.Metric.PxPerDp}.Layout(cgtx)
	}
	if self != nil {
		// This side's own picture, a quarter wide, bottom right, framed.
		sw := w / 4
		sh := sw * self.Bounds().Dy() / max(1, self.Bounds().Dx())
		u.setSelfPicture(self, image.Pt(sw, sh))
		m := gtx.Dp(6)
		at := image.Pt(w-sw-m, h-sh-m)
		frame := clip.Rect{Min: at.Sub(image.Pt(2, 2)), Max: at.Add(image.Pt(sw+2, sh+2))}
		paint.FillShape(gtx.Ops, white, frame.Op())
		st := op.Offset(at).Push(gtx.Ops)
		sgtx := gtx
		sgtx.Constraints = layout.Exact(image.Pt(sw, sh))
		widget.Image{Src: u.selfOp, Fit: widget.Contain, Position: layout.Center, Scale: 1 / gtx.Metric.PxPerDp}.Layout(sgtx)
		st.Pop()
	}
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
