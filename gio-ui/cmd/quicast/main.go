// Command quicast is the desktop window: pick a camera and a microphone,
// check the network, and broadcast to a quicast relay with one click.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"gioui.org/app"
	"gioui.org/io/system"

	"github.com/quicast/quicast/gio-ui/ui"
)

func main() {
	w, u, err := ui.FromArgs(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "quicast:", err)
		os.Exit(2)
	}
	if w == nil {
		return // -h
	}
	// Ctrl-C or a TERM closes the window as its close button would: the
	// settings are saved, the broadcast stops, the devices are released. A
	// second one quits at once.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		w.Perform(system.ActionClose)
		<-sig
		fmt.Fprintln(os.Stderr, "quicast: quitting at once")
		os.Exit(1)
	}()
	go func() {
		if err := ui.Run(w, u); err != nil {
			fmt.Fprintln(os.Stderr, "quicast:", windowError(err, os.Getenv("DISPLAY")))
			os.Exit(1)
		}
		os.Exit(0)
	}()
	app.Main()
}

// windowError explains why the window could not open. Gio tries Wayland,
// then the X server of $DISPLAY, and reports only the first failure, which
// says nothing of the X server.
func windowError(err error, display string) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "wayland:") && display != "" {
		msg += "; the X server at DISPLAY=" + display + " could not be used either (is it running, and may this user connect to it?)"
	}
	return msg
}
