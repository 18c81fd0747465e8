package ui

import (
	"strings"

	"gioui.org/layout"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/quicast/quicast/gio-ui/devices"
	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/sender/media"
)

// deviceSelector is one device list of the form, cameras or microphones:
// its heading, a radio button a choice (the system's devices by their
// names, the built-in test source, a file, off), the file path under "A
// file…" when that is chosen, and a disabled "No device available" when the
// system has none.
type deviceSelector struct {
	title, test i18n.Msg // the heading; the built-in source's label

	group widget.Enum
	none  widget.Enum // never read: "No device available" is in no group
	file  widget.Editor
	cur   devices.Entry // the current choice
}

func newDeviceSelector(title, test i18n.Msg, setting string) deviceSelector {
	d := deviceSelector{title: title, test: test}
	d.file.SingleLine = true
	d.cur = d.fromSetting(setting)
	return d
}

// fromSetting restores a saved choice; devices are matched against the
// lists when they arrive.
func (d *deviceSelector) fromSetting(s string) devices.Entry {
	switch {
	case s == "":
		return devices.Entry{Kind: devices.Device} // the first device, when the lists come
	case s == "test":
		return devices.Entry{Kind: devices.Test, Source: "test"}
	case s == "none":
		return devices.Entry{Kind: devices.Disabled, Source: "none"}
	case strings.HasPrefix(s, "file:"):
		d.file.SetText(strings.TrimPrefix(s, "file:"))
		return devices.Entry{Kind: devices.File}
	}
	return devices.Entry{Kind: devices.Device, Source: s}
}

// setting is the choice as the settings keep it.
func (d *deviceSelector) setting() string {
	if d.cur.Kind == devices.File {
		return "file:" + strings.TrimSpace(d.file.Text())
	}
	return d.cur.Source
}

// source is the choice as the sender opens it; the zero Source when it
// cannot be parsed.
func (d *deviceSelector) source() media.Source {
	if d.cur.Kind == devices.File {
		return media.Source{Type: media.SourceFile, Arg: strings.TrimSpace(d.file.Text())}
	}
	s, err := media.ParseSource(d.cur.Source)
	if err != nil {
		return media.Source{}
	}
	return s
}

// update takes the last frame's click (none while live: the choice is
// locked) and the current list: a saved device is found in it by its
// source, and a choice that went away falls back (devices.Keep).
func (d *deviceSelector) update(gtx C, list []devices.Entry, haveList, live bool) {
	if !live && d.group.Update(gtx) {
		d.cur = entryByKey(list, d.group.Value)
	}
	if haveList {
		d.cur = devices.Keep(list, matchDevice(list, d.cur))
	}
	d.group.Value = enumKey(d.cur)
}

// layout draws the list, disabled while live.
func (d *deviceSelector) layout(gtx C, th *material.Theme, lang i18n.Lang, list []devices.Entry, live bool) D {
	if live {
		gtx = gtx.Disabled()
	}
	rows := []layout.FlexChild{layout.Rigid(func(gtx C) D {
		return layout.Inset{Top: unit.Dp(4), Bottom: unit.Dp(2)}.Layout(gtx, material.Subtitle2(th, lang.T(d.title)).Layout)
	})}
	for _, e := range list {
		rows = append(rows, layout.Rigid(func(gtx C) D {
			switch e.Kind {
			case devices.None:
				// Not in the group: a disabled radio button of the group
				// would still take clicks.
				r := material.RadioButton(th, &d.none, "", lang.T(i18n.NoDevice))
				r.Color, r.IconColor = grey, grey
				return r.Layout(gtx.Disabled())
			case devices.File:
				return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
					layout.Rigid(material.RadioButton(th, &d.group, "file", lang.T(i18n.AFile)).Layout),
					layout.Rigid(func(gtx C) D {
						if d.cur.Kind != devices.File {
							return D{}
						}
						return layout.Inset{Left: unit.Dp(30), Bottom: unit.Dp(4)}.Layout(gtx, editor(th, &d.file, lang.T(i18n.FilePath)))
					}))
			}
			label := e.Label
			switch e.Kind {
			case devices.Test:
				label = lang.T(d.test)
			case devices.Disabled:
				label = lang.T(i18n.Off)
			}
			return material.RadioButton(th, &d.group, enumKey(e), label).Layout(gtx)
		}))
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx, rows...)
}

// enumKey is an entry's value in the radio group.
func enumKey(e devices.Entry) string {
	if e.Kind == devices.File {
		return "file"
	}
	return e.Source
}

// matchDevice finds a saved device choice (known by its source only) in
// list, so that its label shows.
func matchDevice(list []devices.Entry, e devices.Entry) devices.Entry {
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
