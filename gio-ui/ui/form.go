package ui

import (
	"image"
	"image/color"
	"net"
	"slices"
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
)

type (
	C = layout.Context
	D = layout.Dimensions
)

// Layout draws the window: the form on the left and the picture box and
// status on the right — in a call, the call's state on the left in place
// of the form (all of which waits for the call to end) and the pictures on
// the right.
func (u *UI) Layout(gtx C) D {
	u.update(gtx)
	v := u.liveView(gtx)
	// The relay's banner follows the publishing's link at once: a session
	// lost or published again is news about the relay the next periodic
	// check would tell seconds later, while the banner contradicts the
	// status under it.
	if down := u.bc != nil && v.st.State == broadcast.Reconnecting || u.call != nil && v.cs.Reconnect > 0; down != u.linkDown {
		u.linkDown = down
		u.checkRelayNow()
	}
	u.drawnAt.Store(u.now().UnixNano())
	u.drewOthers.Store(slices.ContainsFunc(v.cs.Parties, func(p partyStatus) bool { return p.Picture != nil }))
	left, right := u.layoutForm, func(gtx C) D { return u.layoutStatus(gtx, v) }
	if u.call != nil {
		u.call.drawn.Add(1)
		left = func(gtx C) D { return u.layoutCallPanel(gtx, v) }
		right = func(gtx C) D { return u.layoutPictureBox(gtx, v) }
	}
	return u.layoutWindow(gtx, left, right)
}

// layoutWindow draws the header and the warnings, and the left and right
// panels under them.
func (u *UI) layoutWindow(gtx C, left, right layout.Widget) D {
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
					layout.Flexed(0.48, left),
					layout.Rigid(layout.Spacer{Width: unit.Dp(16)}.Layout),
					layout.Flexed(0.52, right),
				)
			}),
		)
	})
}

func (u *UI) layoutHeader(gtx C) D {
	return layout.Inset{Bottom: unit.Dp(8)}.Layout(gtx, func(gtx C) D {
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
			layout.Rigid(material.H5(u.th, u.lang.T(i18n.Title)).Layout),
			layout.Rigid(layout.Spacer{Width: unit.Dp(24)}.Layout),
			layout.Rigid(func(gtx C) D {
				if u.live() {
					gtx = gtx.Disabled() // the mode stays while live
				}
				return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
					layout.Rigid(material.RadioButton(u.th, &u.modeEnum, modeBroadcast, u.lang.T(i18n.ModeBroadcast)).Layout),
					layout.Rigid(material.RadioButton(u.th, &u.modeEnum, modeCall, u.lang.T(i18n.ModeCall)).Layout))
			}),
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
	live := u.live()
	var items []layout.Widget
	heading := func(m i18n.Msg) {
		items = append(items, func(gtx C) D {
			return layout.Inset{Top: unit.Dp(4), Bottom: unit.Dp(2)}.Layout(gtx, material.Subtitle2(u.th, u.lang.T(m)).Layout)
		})
	}
	// The camera and microphone lists side by side keep the whole form in
	// the window.
	cams := func(gtx C) D { return u.cam.layout(gtx, u.th, u.lang, lists.Cameras, live) }
	mics := func(gtx C) D { return u.mic.layout(gtx, u.th, u.lang, lists.Microphones, live) }
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
						layout.Rigid(editor(u.th, f.ed, f.hint)))
				})
			}
			if b.ed == nil {
				return layout.Flex{}.Layout(gtx, col(a), layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout),
					layout.Flexed(1-a.weight, layout.Spacer{}.Layout))
			}
			return layout.Flex{}.Layout(gtx, col(a), layout.Rigid(layout.Spacer{Width: unit.Dp(8)}.Layout), col(b))
		})
	}
	caption := func(text string, c color.NRGBA) {
		items = append(items, func(gtx C) D {
			return layout.Inset{Top: unit.Dp(4)}.Layout(gtx, func(gtx C) D {
				l := material.Caption(u.th, text)
				l.Color = c
				return l.Layout(gtx)
			})
		})
	}
	if u.modeEnum.Value == modeCall {
		items = append(items, func(gtx C) D {
			if live {
				gtx = gtx.Disabled()
			}
			return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
				layout.Rigid(material.RadioButton(u.th, &u.viaEnum, viaRelay, u.lang.T(i18n.ViaRelay)).Layout),
				layout.Rigid(material.RadioButton(u.th, &u.viaEnum, viaDirect, u.lang.T(i18n.ViaDirect)).Layout))
		})
	}
	if u.modeEnum.Value == modeCall && u.viaEnum.Value == viaDirect {
		// A direct call: the other side's address and the code its
		// window shows; this side's own, for calls to it.
		pair(field{i18n.TheirAddress, &u.peerAddrEd, "192.168.1.20", 0.62}, field{i18n.TheirCode, &u.peerCodeEd, "123456", 0.38})
		pair(field{i18n.CallUser, &u.userEd, "", 0.5}, field{})
		switch {
		case u.lanErr != nil:
			caption(u.lang.T(i18n.ErrListen, u.lanErr), red)
		case u.lan != nil:
			ls := u.lan.status()
			addrs := lanAddrs()
			for i, a := range addrs {
				addrs[i] = net.JoinHostPort(a, strconv.Itoa(ls.Port))
			}
			if len(addrs) == 0 {
				addrs = []string{"port " + strconv.Itoa(ls.Port)}
			}
			caption(u.lang.T(i18n.CallsToYou, strings.Join(addrs, ", "), ls.Code[:3]+" "+ls.Code[3:]), black)
		}
		caption(u.lang.T(i18n.DirectNAT), grey)
		caption(u.lang.T(i18n.Headphones), grey)
	} else if u.modeEnum.Value == modeCall {
		// A call is a room on the relay, joined with this side's account:
		// the relay gives the stream and key to publish with.
		pair(field{i18n.Relay, &u.relayEd, "https://relay.example:8443", 0.62}, field{i18n.Room, &u.roomEd, "team", 0.38})
		pair(field{i18n.CallUser, &u.userEd, "", 0.5}, field{i18n.CallPassword, &u.passEd, "", 0.5})
		pair(field{i18n.CAFile, &u.caEd, u.lang.T(i18n.CAFileHint), 0.5}, field{})
		items = append(items, material.CheckBox(u.th, &u.ringMe, u.lang.T(i18n.RingMe)).Layout)
		items = append(items, func(gtx C) D {
			return layout.Inset{Top: unit.Dp(4)}.Layout(gtx, func(gtx C) D {
				l := material.Caption(u.th, u.lang.T(i18n.Headphones))
				l.Color = grey
				return l.Layout(gtx)
			})
		})
	} else {
		pair(field{i18n.Relay, &u.relayEd, "https://relay.example:8443", 0.62}, field{i18n.Stream, &u.streamEd, "demo", 0.38})
		pair(field{i18n.PublishKey, &u.keyEd, "", 0.5}, field{i18n.CAFile, &u.caEd, u.lang.T(i18n.CAFileHint), 0.5})
	}
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

// layoutCallPanel is the left-hand panel in a call: its state and
// figures (statusRows), scrolled when they do not fit, above the buttons.
// The form it replaces cannot change during the call, and drawing it
// costs: on software OpenGL each of its texts and borders is rasterized
// again every frame, which doubles the cost of a call's frame
// (BenchmarkCallWindowFrame, the -form cases).
func (u *UI) layoutCallPanel(gtx C, v liveView) D {
	rows := u.statusRows(v)
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Flexed(1, func(gtx C) D {
			return material.List(u.th, &u.callPanel).Layout(gtx, len(rows), func(gtx C, i int) D {
				return layout.Flex{Axis: layout.Vertical}.Layout(gtx, rows[i])
			})
		}),
		layout.Rigid(u.layoutButtons))
}

// layoutButtons keeps Start/Stop and Quit in view below the form.
func (u *UI) layoutButtons(gtx C) D {
	live := u.live()
	return layout.Inset{Top: unit.Dp(10)}.Layout(gtx, func(gtx C) D {
		return layout.Flex{}.Layout(gtx,
			layout.Rigid(func(gtx C) D {
				start, stop := i18n.Start, i18n.Stop
				if u.modeEnum.Value == modeCall {
					start, stop = i18n.StartCall, i18n.HangUp
				}
				if live {
					b := material.Button(u.th, &u.stopBtn, u.lang.T(stop))
					b.Background = red
					return b.Layout(gtx)
				}
				return material.Button(u.th, &u.startBtn, u.lang.T(start)).Layout(gtx)
			}),
			layout.Rigid(func(gtx C) D {
				if u.bc == nil || u.call == nil {
					return D{}
				}
				// In a call: mute and camera off, between Hang up and Quit.
				toggle := func(btn *widget.Clickable, on bool, onMsg, offMsg i18n.Msg) layout.FlexChild {
					return layout.Rigid(func(gtx C) D {
						msg := offMsg
						if on {
							msg = onMsg
						}
						b := material.Button(u.th, btn, u.lang.T(msg))
						b.Background, b.Color = panel, black
						if on {
							b.Background, b.Color = grey, white
						}
						return layout.Inset{Left: unit.Dp(8)}.Layout(gtx, b.Layout)
					})
				}
				return layout.Flex{}.Layout(gtx,
					toggle(&u.muteBtn, u.bc.Muted(), i18n.Unmute, i18n.Mute),
					toggle(&u.cameraBtn, u.bc.CameraOff(), i18n.CameraOn, i18n.CameraOff))
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

// editor is a bordered one-line text field. The border is two rectangles,
// grey and white, not a stroked outline (widget.Border): Gio draws a
// rectangle as it is but rasterizes an outline's whole area again every
// frame — on software OpenGL 1-2 ms a field (BenchmarkCallWindowFrame).
func editor(th *material.Theme, ed *widget.Editor, hint string) layout.Widget {
	return func(gtx C) D {
		m := op.Record(gtx.Ops)
		d := layout.UniformInset(unit.Dp(6)).Layout(gtx, func(gtx C) D {
			gtx.Constraints.Min.X = gtx.Constraints.Max.X
			return material.Editor(th, ed, hint).Layout(gtx)
		})
		text := m.Stop()
		w := gtx.Dp(1)
		paint.FillShape(gtx.Ops, grey, clip.Rect{Max: d.Size}.Op())
		paint.FillShape(gtx.Ops, white, clip.Rect{Min: image.Pt(w, w), Max: d.Size.Sub(image.Pt(w, w))}.Op())
		text.Add(gtx.Ops)
		return d
	}
}
