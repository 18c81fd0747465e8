package ui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/gio-ui/netcheck"
	"github.com/quicast/quicast/sender/media"
)

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

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
