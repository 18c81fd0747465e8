// Package devices lists the cameras and microphones the desktop window
// offers, with the built-in test source and a file beside them, and watches
// for devices that come and go.
package devices

import (
	"context"
	"slices"
	"time"

	"github.com/quicast/quicast/sender/media"
)

// EntryKind says what a selector entry stands for.
type EntryKind int

const (
	Device   EntryKind = iota // a camera or microphone
	Test                      // the built-in test picture or tone
	File                      // a file the user picks
	None                      // "No device available": shown, never selectable
	Disabled                  // no track of this kind
)

// Entry is one line of a device selector.
type Entry struct {
	Kind   EntryKind
	Label  string // the OS's friendly name for devices; empty otherwise (the UI names it)
	Source string // what media.ParseSource takes: "device:ID", "test", "none"; "" for None and File
}

// Selectable reports whether the entry can be chosen.
func (e Entry) Selectable() bool { return e.Kind != None }

// Lists are the camera and microphone selectors.
type Lists struct {
	Cameras, Microphones []Entry
}

// Build makes the selectors from the devices present: the devices by name,
// or one "No device available" entry, then the test source, a file and
// "off".
func Build(devs []media.Device) Lists {
	var l Lists
	for _, d := range devs {
		e := Entry{Kind: Device, Label: d.Label, Source: "device:" + d.ID}
		if d.Kind == media.KindVideo {
			l.Cameras = append(l.Cameras, e)
		} else {
			l.Microphones = append(l.Microphones, e)
		}
	}
	extra := func(in []Entry) []Entry {
		if len(in) == 0 {
			in = append(in, Entry{Kind: None})
		}
		return append(in, Entry{Kind: Test, Source: "test"}, Entry{Kind: File}, Entry{Kind: Disabled, Source: "none"})
	}
	l.Cameras, l.Microphones = extra(l.Cameras), extra(l.Microphones)
	return l
}

// Keep returns the entry of list to select after a refresh: cur when it is
// still offered, else the first device, else the test source.
func Keep(list []Entry, cur Entry) Entry {
	for _, e := range list {
		if e == cur && e.Selectable() {
			return e
		}
	}
	if cur.Kind == File || cur.Kind == Test || cur.Kind == Disabled {
		return cur // not a device: it cannot vanish
	}
	for _, e := range list {
		if e.Kind == Device {
			return e
		}
	}
	for _, e := range list {
		if e.Kind == Test {
			return e
		}
	}
	return Entry{Kind: Disabled, Source: "none"}
}

// Watcher polls the system for devices.
type Watcher struct {
	// List returns the devices present; default media.ListDevices.
	List func() ([]media.Device, error)
	// Interval between polls; default 3 s.
	Interval time.Duration
	// Tick returns a channel that fires after d; default time.After. Tests
	// drive time with it.
	Tick func(d time.Duration) <-chan time.Time
}

// Run calls update with the lists at once and then whenever they change,
// until ctx ends. A failing List keeps the previous lists and reports the
// error (nil once it works again).
func (w *Watcher) Run(ctx context.Context, update func(Lists, error)) {
	list, interval, tick := w.List, w.Interval, w.Tick
	if list == nil {
		list = media.ListDevices
	}
	if interval <= 0 {
		interval = 3 * time.Second
	}
	if tick == nil {
		tick = time.After
	}
	var (
		last    Lists
		lastErr error
		first   = true
	)
	for {
		devs, err := list()
		if err == nil {
			l := Build(devs)
			if first || !equal(l, last) || lastErr != nil {
				update(l, nil)
				last, first = l, false
			}
		} else if lastErr == nil || first {
			update(last, err)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return
		case <-tick(interval):
		}
	}
}

func equal(a, b Lists) bool {
	return slices.Equal(a.Cameras, b.Cameras) && slices.Equal(a.Microphones, b.Microphones)
}
