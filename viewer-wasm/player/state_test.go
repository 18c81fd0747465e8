package player

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// Each event moves a machine; the table lists every transition the page
// knows, from every state.
type event struct {
	name string
	do   func(m *Machine)
}

var (
	connected = event{"connected", func(m *Machine) { m.Connected(at(0)) }}
	catalogAV = event{"catalog(video+audio)", func(m *Machine) { m.Catalog(true, true, at(0)) }}
	catalogV  = event{"catalog(video)", func(m *Machine) { m.Catalog(true, false, at(0)) }}
	catalogA  = event{"catalog(audio)", func(m *Machine) { m.Catalog(false, true, at(0)) }}
	media     = event{"media", func(m *Machine) { m.Media(at(100)) }}
	audioOn   = event{"audio running", func(m *Machine) { m.Audio(true) }}
	audioOff  = event{"audio suspended", func(m *Machine) { m.Audio(false) }}
	tickSoon  = event{"tick +1.4s", func(m *Machine) { m.Tick(at(100 + 1400)) }}
	tickLate  = event{"tick +1.5s", func(m *Machine) { m.Tick(at(100 + 1500)) }}
	ended     = event{"ended", func(m *Machine) { m.Ended("the broadcaster stopped", at(200)) }}
	lost      = event{"lost", func(m *Machine) { m.Lost("the relay went away", 1, at(800), at(300)) }}
	failed    = event{"fail", func(m *Machine) { m.Fail("no such stream", at(400)) }}
)

func run(events ...event) *Machine {
	m := &Machine{}
	for _, e := range events {
		e.do(m)
	}
	return m
}

func TestMachineTransitions(t *testing.T) {
	for _, c := range []struct {
		events []event
		want   State
		muted  bool
	}{
		{nil, Connecting, false},
		{[]event{connected}, Waiting, false},
		{[]event{lost}, Reconnecting, false},
		{[]event{failed}, Error, false},
		{[]event{media}, Connecting, false}, // nothing plays before a session
		{[]event{connected, media}, Playing, false},
		{[]event{connected, catalogAV}, Waiting, true}, // audio not running yet
		{[]event{connected, catalogAV, audioOn}, Waiting, false},
		{[]event{connected, catalogAV, media}, Playing, true}, // video with audio blocked: live, muted
		{[]event{connected, catalogV, media}, Playing, false}, // video only
		{[]event{connected, catalogA, audioOn, media}, Playing, false},
		{[]event{connected, catalogAV, audioOn, media, audioOff}, Playing, true},
		{[]event{connected, catalogAV, media, audioOn}, Playing, false}, // unmuted
		{[]event{connected, media, tickSoon}, Playing, false},
		{[]event{connected, media, tickLate}, Stalled, false},
		{[]event{connected, media, tickLate, media}, Playing, false},
		{[]event{connected, tickLate}, Waiting, false}, // waiting never stalls
		{[]event{connected, media, ended}, Ended, false},
		{[]event{connected, media, tickLate, ended}, Ended, false},
		{[]event{connected, ended}, Ended, false},
		{[]event{connected, media, ended, media}, Ended, false}, // stray media after the end
		{[]event{connected, media, ended, catalogV}, Waiting, false},
		{[]event{connected, media, ended, catalogV, media}, Playing, false},
		{[]event{connected, media, lost}, Reconnecting, false},
		{[]event{connected, media, tickLate, lost}, Reconnecting, false},
		{[]event{connected, media, ended, lost}, Reconnecting, false},
		{[]event{connected, media, lost, media}, Reconnecting, false},
		{[]event{connected, media, lost, connected}, Waiting, false},
		{[]event{connected, media, lost, connected, catalogV, media}, Playing, false},
		{[]event{connected, catalogAV, media, catalogAV}, Waiting, true}, // a new broadcast starts over
		{[]event{connected, media, failed}, Error, false},
		{[]event{failed, connected}, Error, false},
		{[]event{failed, catalogV, media}, Error, false},
		{[]event{failed, lost}, Error, false},
		{[]event{lost, failed}, Error, false},
		{[]event{lost, ended}, Reconnecting, false},
	} {
		var names []string
		for _, e := range c.events {
			names = append(names, e.name)
		}
		m := run(c.events...)
		if s := m.Status(); s.State != c.want || s.Muted != c.muted {
			t.Errorf("%s: %v muted=%v, want %v muted=%v", strings.Join(names, " → "), s.State, s.Muted, c.want, c.muted)
		}
	}
}

func TestMachineCounts(t *testing.T) {
	m := run(connected, catalogV, media, lost, connected, catalogV)
	s := m.Status()
	if s.Sessions != 2 || s.Broadcasts != 2 || s.Attempt != 0 || s.Reason != "" {
		t.Errorf("after a reconnect: %+v", s)
	}
	m.Lost("gone", 3, at(5000), at(2000))
	if s := m.Status(); s.Attempt != 3 || !s.Next.Equal(at(5000)) || !s.Since.Equal(at(2000)) {
		t.Errorf("reconnecting: %+v", s)
	}
}

func TestStatusText(t *testing.T) {
	for _, c := range []struct {
		m    *Machine
		now  time.Time
		want string
	}{
		{run(), at(0), "Connecting…"},
		{run(connected), at(0), "Waiting for the broadcast to start…"},
		{run(connected, media), at(0), ""},
		{run(connected, media, tickLate), at(3100), "Stalled: nothing received for 3 s — waiting for the broadcaster…"},
		{run(connected, lost), at(300), "Reconnecting (attempt 1, next in 0 s)… the relay went away"},
		{run(connected, ended), at(300), "Broadcast ended: the broadcaster stopped. It plays here again when the broadcaster is back."},
		{run(failed), at(0), "Error: no such stream"},
	} {
		if got := c.m.Status().Text(c.now); got != c.want {
			t.Errorf("%v: %q, want %q", c.m.Status().State, got, c.want)
		}
	}
	m := run(connected)
	m.Lost("", 2, at(4000), at(0))
	if got := m.Status().Text(at(0)); !strings.Contains(got, "attempt 2, next in 4 s") {
		t.Errorf("countdown: %q", got)
	}
}
