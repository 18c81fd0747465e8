// Command quicast-load opens many viewer sessions on a quicast relay, as
// browsers do, and reports what they received: how many stayed live, the
// delivered bitrate, whole and cut video groups, sequence gaps, and the
// capture → arrival delay. With -pid (the relay's process, same machine) it
// also reports the relay's CPU and memory per viewer.
//
//	quicast-load -relay https://127.0.0.1:8443 -ca DIR/certs/ca.pem \
//	    -stream demo -user alice -password-file pw.txt -viewers 500
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/quicast/quicast/relay/load"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quicast-load:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("quicast-load", flag.ContinueOnError)
	fs.SetOutput(out)
	relay := fs.String("relay", "https://127.0.0.1:8443", "the relay's address, as the watch page's")
	caFile := fs.String("ca", "", "the relay's CA certificate (DIR/certs/ca.pem); default: the system's roots")
	stream := fs.String("stream", "demo", "stream to watch")
	user := fs.String("user", "", "viewer account to log in with")
	pwFile := fs.String("password-file", "-", "file holding the password (- : standard input)")
	viewers := fs.Int("viewers", 100, "viewer sessions to open")
	openRate := fs.Float64("rate", 50, "sessions opened per second (Chromium keeps at most 64 pending per page)")
	warmup := fs.Duration("warmup", 5*time.Second, "time after the last session opened before measuring")
	window := fs.Duration("duration", 20*time.Second, "measurement window")
	pid := fs.Int("pid", 0, "the relay's process ID on this machine: report its CPU and memory")
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: quicast-load -relay URL -ca FILE -stream NAME -user NAME [-password-file FILE] [-viewers N]")
		fmt.Fprintln(out, "Opens N viewer sessions as browsers do and reports what arrived.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *user == "" {
		return errors.New("-user is required (a viewer account: quicast-relay user add)")
	}
	var pw []byte
	var err error
	if *pwFile == "-" {
		pw, err = io.ReadAll(io.LimitReader(stdin, 4096))
	} else {
		pw, err = os.ReadFile(*pwFile)
	}
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	tlsConf := &tls.Config{}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("-ca: %w", err)
		}
		tlsConf.RootCAs = x509.NewCertPool()
		if !tlsConf.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-ca %s: no PEM certificate in it", *caFile)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := load.Config{Relay: strings.TrimSuffix(*relay, "/"), Stream: *stream, User: *user,
		Password: strings.TrimRight(string(pw), "\r\n"), TLS: tlsConf, Viewers: *viewers, OpenRate: *openRate}
	start := time.Now()
	l, err := load.Start(ctx, cfg, func(opened, failed int) {
		if n := opened + failed; n%50 == 0 || n == *viewers {
			fmt.Fprintf(out, "opened %d/%d sessions (%d failed) in %v\n", opened, *viewers, failed, time.Since(start).Round(100*time.Millisecond))
		}
	})
	if err != nil {
		return err
	}
	defer l.Close()
	select {
	case <-time.After(*warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	var before load.Usage
	if *pid != 0 {
		if before, err = load.ProcessUsage(*pid); err != nil {
			return fmt.Errorf("-pid: %w", err)
		}
	}
	l.Measure()
	fmt.Fprintf(out, "measuring for %v…\n", *window)
	select {
	case <-time.After(*window):
	case <-ctx.Done():
	}
	r := l.Result()
	fmt.Fprintln(out, r)
	if *pid != 0 {
		after, err := load.ProcessUsage(*pid)
		if err != nil {
			return fmt.Errorf("-pid: %w", err)
		}
		fmt.Fprintln(out, load.RelayCost(before, after, r))
	}
	return nil
}
