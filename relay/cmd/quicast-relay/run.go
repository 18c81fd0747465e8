package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/quicast/quicast/relay"
	"github.com/quicast/quicast/relay/internal/store"
)

const usage = `quicast-relay receives SRTP broadcasts and serves them to logged-in
browser viewers over WebTransport. One port carries everything: UDP for QUIC
(viewers) and SRTP (senders), TCP for the HTTPS pages.

Usage:
  quicast-relay [-listen HOST:PORT] [-data DIR] [-hosts NAMES] [-cert FILE -key FILE]   serve
  quicast-relay [-data DIR] user add NAME        add a viewer (password asked, or one line on stdin)
  quicast-relay [-data DIR] user passwd NAME     new password; the user's logins end
  quicast-relay [-data DIR] user remove NAME     logins end and watching stops at once
  quicast-relay [-data DIR] user list
  quicast-relay [-data DIR] stream add NAME      add a stream; prints its publish key
  quicast-relay [-data DIR] stream rekey NAME    new publish key; the old one stops working at once
  quicast-relay [-data DIR] stream remove NAME   its sender and viewers are ended at once
  quicast-relay [-data DIR] stream list
  quicast-relay [-data DIR] room add NAME        add a call room: logged-in users join it at /room/NAME
  quicast-relay [-data DIR] room remove NAME     its participants are ended at once
  quicast-relay [-data DIR] room list
  quicast-relay [-data DIR] demo [-env FILE]     demo user and stream (created once), credentials printed

A running relay sees these changes within a second: no restart needed.
Passwords have at least 8 characters.

Examples:
  quicast-relay user add alice                   (asks for the password twice)
  echo 'a long passphrase' | quicast-relay user add alice
  quicast-relay stream add class
  quicast-relay room add team                    (then https://HOST:PORT/room/team)
  quicast-relay -listen :8443

Flags:
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("quicast-relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", relay.DefaultListen, "`HOST:PORT` to serve on (UDP and TCP)")
	data := fs.String("data", defaultDataDir(), "data `DIR`ectory: users, streams, certificates")
	certFile := fs.String("cert", "", "certificate chain `FILE` (PEM) to use instead of the local CA")
	keyFile := fs.String("key", "", "private key `FILE` (PEM) of -cert")
	hosts := fs.String("hosts", "", "comma-separated `NAMES` (DNS names, IPs) viewers and senders reach this relay by, besides its addresses: the generated certificate covers them")
	verbose := fs.Bool("v", false, "log debug detail")
	metricsToken := fs.String("metrics-token", os.Getenv("QUICAST_METRICS_TOKEN"), "bearer `TOKEN` a Prometheus scraper on another machine presents for /metrics (default $QUICAST_METRICS_TOKEN; without it only this machine may read them)")
	maxRate := fs.Float64("max-publish-rate", relay.DefaultMaxPublishRate/1e6, "cap on what one sender may send, in `Mbit/s`: packets beyond it are dropped and counted, a sender above twice it for 3 s is cut off")
	origins := fs.String("origins", "", "comma-separated web `ORIGINS` (https://host[:port]) besides the relay's own whose pages may open viewer sessions")
	socket := fs.String("socket", relay.SocketOne, "how the UDP port is shared: `one` (QUIC and SRTP on it), separate (SRTP on a port of its own, told to senders: two ports to open), one-plain (one port without batched I/O, to compare)")
	debugAddr := fs.String("debug-addr", "", "serve Go's profiler (/debug/pprof/) on this `HOST:PORT`, plain HTTP: keep it on 127.0.0.1")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		level := slog.LevelInfo
		if *verbose {
			level = slog.LevelDebug
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		cfg := relay.Config{Listen: *listen, DataDir: *data, CertFile: *certFile, KeyFile: *keyFile, Logger: log,
			MetricsToken: *metricsToken, DebugAddr: *debugAddr, Socket: *socket, MaxPublishRate: *maxRate * 1e6, Origins: splitList(*origins)}
		cfg.Hosts = splitList(*hosts)
		return relay.Run(ctx, cfg, func(i relay.Info) { printInfo(stdout, i) })
	}
	switch {
	case len(rest) == 3 && rest[0] == "user" && (rest[1] == "add" || rest[1] == "passwd"):
		return setPassword(*data, rest[1], rest[2], stdin, stdout, stderr)
	case len(rest) >= 1 && (rest[0] == "user" || rest[0] == "stream" || rest[0] == "room") && len(rest) <= 3:
		return manage(*data, rest, stdout)
	case len(rest) >= 1 && rest[0] == "demo":
		dfs := flag.NewFlagSet("demo", flag.ContinueOnError)
		dfs.SetOutput(stderr)
		env := dfs.String("env", "", "also write the credentials as shell variables to `FILE` (mode 0600)")
		if err := dfs.Parse(rest[1:]); err != nil {
			return err
		}
		return demo(*data, *env, stdout)
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", strings.Join(rest, " "))
}

// manage runs the user, stream and room commands that need no password.
func manage(dir string, args []string, stdout io.Writer) error {
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	what := strings.Join(args[:min(2, len(args))], " ")
	name := ""
	if len(args) == 3 {
		name = args[2]
	}
	switch {
	case what == "user list" && name == "":
		for _, u := range st.Users() {
			fmt.Fprintln(stdout, u)
		}
	case what == "stream list" && name == "":
		for _, s := range st.Streams() {
			fmt.Fprintln(stdout, s)
		}
	case what == "room list" && name == "":
		for _, r := range st.Rooms() {
			fmt.Fprintln(stdout, r)
		}
	case what == "room add" && name != "":
		if err := st.AddRoom(name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "room %s added; logged-in users join it at /room/%s\n", name, name)
	case what == "room remove" && name != "":
		if err := st.RemoveRoom(name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "room %s removed; its participants are ended\n", name)
	case what == "user remove" && name != "":
		if err := st.RemoveUser(name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s removed; their logins have ended\n", name)
	case what == "stream add" && name != "":
		key, err := st.AddStream(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stream %s added; its publish key (shown only now):\n%s\n", name, key)
	case what == "stream rekey" && name != "":
		key, err := st.Rekey(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stream %s has a new publish key (the old one no longer works; shown only now):\n%s\n", name, key)
	case what == "stream remove" && name != "":
		if err := st.RemoveStream(name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stream %s removed\n", name)
	default:
		return fmt.Errorf("unknown command %q (see -h)", strings.Join(args, " "))
	}
	return nil
}

// setPassword adds user name (verb "add") or changes their password
// ("passwd"). On a terminal the password is asked twice without echo;
// otherwise it is the first line of stdin.
func setPassword(dir, verb, name string, stdin io.Reader, stdout, stderr io.Writer) error {
	pw, err := readPassword(name, stdin, stderr)
	if err != nil {
		return err
	}
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	if verb == "add" {
		err = st.AddUser(name, pw)
	} else {
		err = st.SetPassword(name, pw)
	}
	if err != nil {
		return err
	}
	if verb == "add" {
		fmt.Fprintf(stdout, "user %s added\n", name)
	} else {
		fmt.Fprintf(stdout, "password of %s changed; their logins have ended\n", name)
	}
	return nil
}

func readPassword(name string, stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s (at least %d characters): ", name, store.MinPasswordLen)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if len([]rune(string(a))) < store.MinPasswordLen {
			return "", fmt.Errorf("%w: nothing changed", store.ErrShortPassword)
		}
		fmt.Fprint(stderr, "Repeat it: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ: nothing changed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin (type it at a terminal, or pipe it in: echo 'passphrase' | quicast-relay user add NAME)")
	}
	return pw, nil
}

// demoCredentials are kept in clear in the data directory so that every run
// of the demo prints the same login; only for the demo user and stream.
type demoCredentials struct {
	User, Password, Stream, Key string
}

const demoFile = "demo-credentials.json"

func demo(dir, envFile string, stdout io.Writer) error {
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	var c demoCredentials
	path := filepath.Join(dir, demoFile)
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else {
		c = demoCredentials{User: "demo", Password: randomToken(12), Stream: "demo"}
		if err := st.AddUser(c.User, c.Password); err != nil {
			return fmt.Errorf("demo user: %w", err)
		}
		if c.Key, err = st.AddStream(c.Stream); err != nil {
			return fmt.Errorf("demo stream: %w", err)
		}
		b, _ := json.MarshalIndent(c, "", "  ")
		if err := store.WriteFileAtomic(path, b, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "demo user:     %s\ndemo password: %s\ndemo stream:   %s\npublish key:   %s\n",
		c.User, c.Password, c.Stream, c.Key)
	if envFile != "" {
		env := fmt.Sprintf("QUICAST_USER=%s\nQUICAST_PASSWORD=%s\nQUICAST_STREAM=%s\nQUICAST_KEY=%s\n",
			c.User, c.Password, c.Stream, c.Key)
		if err := store.WriteFileAtomic(envFile, []byte(env), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "quicast")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "quicast")
	}
	return "quicast-data"
}

// printInfo tells the operator where viewers go and what senders and
// browsers on other machines need to trust the relay.
func printInfo(w io.Writer, i relay.Info) {
	fmt.Fprintf(w, "quicast-relay serving on %s (UDP: QUIC+SRTP, TCP: HTTPS)\n", i.Addr)
	fmt.Fprintf(w, "  viewers log in at:\n")
	for _, u := range i.URLs {
		fmt.Fprintf(w, "    %s\n", u)
	}
	if i.CAFile == "" {
		fmt.Fprintf(w, "  certificate: yours (-cert), SHA-256 %s, valid until %s\n", i.LeafFingerprint, i.LeafNotAfter.Format(time.DateOnly))
		return
	}
	fmt.Fprintf(w, "  certificate: from the relay's own CA, %s\n", i.CAFile)
	fmt.Fprintf(w, "    CA SHA-256:   %s\n", i.CAFingerprint)
	fmt.Fprintf(w, "    leaf SHA-256: %s (valid until %s, renewed by itself)\n", i.LeafFingerprint, i.LeafNotAfter.Format(time.DateOnly))
	fmt.Fprintf(w, "    valid for:    %s\n", strings.Join(i.LeafHosts, ", "))
	fmt.Fprintf(w, "  senders trust it with -ca %s or -pin %s\n", i.CAFile, i.CAFingerprint)
	if len(i.URLs) > 0 {
		base := strings.TrimSuffix(i.URLs[0], "/login")
		fmt.Fprintf(w, "  browsers warn about the certificate until they import the CA: %s/ca\n", base)
	}
}

// splitList splits a comma-separated flag value, dropping empty items and
// spaces around them; nil for "".
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
