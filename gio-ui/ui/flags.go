package ui

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"gioui.org/app"
	"gioui.org/unit"

	"github.com/quicast/quicast/gio-ui/i18n"
	"github.com/quicast/quicast/gio-ui/netcheck"
	"github.com/quicast/quicast/sender/peercall"
)

const usage = `quicast opens the broadcast window: choose a camera and a microphone,
enter the relay address, the stream name and its publish key, and press Start.

In Call mode the window joins a room on the relay (quicast-relay room add
NAME) with your account there: it publishes your camera and microphone into
the room, and the other participant's picture shows in the window and their
sound plays on the default output.

Usage:
  quicast [-lang en|zh] [-config DIR] [-key-file FILE] [-viewer-password-file FILE] [-probes HOST:PORT,...]

Settings (mode, relay, stream, room, your name, devices, quality, the
relays you trust) are remembered in the config directory; the publish key
in its own file, readable only by you. A key from -key-file or $QUICAST_KEY,
and the call password (your account on the relay) from
-viewer-password-file or $QUICAST_VIEWER_PASSWORD, fill the form but are
not saved.

The window counts as online only when one of the probes completes a TLS
handshake with a certificate the system trusts for that address: a TCP
connection alone proves nothing (captive portals and SYN proxies accept
any).

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
	probes := fs.String("probes", strings.Join(netcheck.DefaultProbes, ","), "TLS servers (`HOST:PORT`s) whose verified answer means the internet is reachable")
	keyFile := fs.String("key-file", "", "read the publish key from `FILE`")
	passFile := fs.String("viewer-password-file", "", "read the password of your account on the relay, for calls, from `FILE`")
	callPort := fs.Int("call-port", peercall.DefaultPort, "`PORT` (TCP and UDP) this window takes direct calls on, in Call → Direct (LAN); when another program has it, any free one")
	verbose := fs.Bool("v", false, "log to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	cfg := Config{ConfigDir: *dir, Checker: &netcheck.Checker{}, Key: strings.TrimSpace(os.Getenv("QUICAST_KEY")), CallPort: *callPort}
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("-key-file: %w", err)
		}
		if cfg.Key = strings.TrimSpace(string(b)); cfg.Key == "" {
			return nil, nil, fmt.Errorf("-key-file %s is empty", *keyFile)
		}
	}
	cfg.ViewerPassword = os.Getenv("QUICAST_VIEWER_PASSWORD")
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return nil, nil, fmt.Errorf("-viewer-password-file: %w", err)
		}
		if cfg.ViewerPassword = strings.TrimRight(string(b), "\r\n"); cfg.ViewerPassword == "" {
			return nil, nil, fmt.Errorf("-viewer-password-file %s is empty", *passFile)
		}
	}
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
