// Command quicast-send captures, encodes and sends a live broadcast as SRTP
// to a quicast relay or to any standard SRTP receiver. Run it with -h.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "quicast-send:", err)
		os.Exit(1)
	}
}
