// Command quicast-relay receives SRTP broadcasts and serves them to
// logged-in browser viewers over WebTransport. Run it with -h for usage.
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
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "quicast-relay:", err)
		os.Exit(1)
	}
}
