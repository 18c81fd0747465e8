package ui

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"gioui.org/app"
	"gioui.org/unit"

	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/gio-ui/netcheck"
)

const usage = `quicast opens the broadcast window: choose a camera and a microphone,
enter the relay address, the stream name and its publish key, and press Start.

Usage:
  quicast [-lang en|zh] [-config DIR] [-probes HOST:PORT,...]

Settings (relay, stream, devices, quality) are remembered in the config
directory; the publish key in its own file, readable only by you.

Flags:
`

// FromArgs parses the command line and makes the window and its state; a
// nil window and no error means -h was given.
func FromArgs(args []string, stderr io.Writer) (*app.Window, *UI, error) {
	fs := flag.NewFlagSet("quicast", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	lang := fs.String("lang", "", "window language: en or zh (default: from the system locale or the last choice)")
	dir := fs.String("config", "", "settings `DIR`ectory (default: the user's config directory/quicast)")
	probes := fs.String("probes", strings.Join(netcheck.DefaultProbes, ","), "`HOST:PORT`s whose answer means the internet is reachable")
	verbose := fs.Bool("v", false, "log to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	cfg := Config{ConfigDir: *dir, Checker: &netcheck.Checker{}}
	if *probes != "" {
		cfg.Checker.Probes = strings.Split(*probes, ",")
	}
	if *lang != "" {
		l, ok := i18n.Parse(*lang)
		if !ok {
			return nil, nil, fmt.Errorf("-lang %q: want en or zh", *lang)
		}
		cfg.Lang = &l
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	u, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	w := new(app.Window)
	w.Option(app.Title("quicast"), app.Size(unit.Dp(1024), unit.Dp(720)), app.MinSize(unit.Dp(720), unit.Dp(520)))
	return w, u, nil
}
