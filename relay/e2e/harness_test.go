package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quicast/quicast/relay/relaytest"
)

var (
	binDir       string // quicast-relay and quicast-send built for this run
	artifactsDir = flag.String("artifacts", os.Getenv("QUICAST_ARTIFACTS"), "directory for screenshots (default: a temporary one)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(filepath.Join(root, "viewer-wasm/web/static/main.wasm.gz")); err != nil {
		return 0, fmt.Errorf("the viewer is not built (run `make wasm` first): %w", err)
	}
	dir, err := os.MkdirTemp("", "quicast-e2e-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	args := []string{"build", "-o", dir + "/"}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./relay/cmd/quicast-relay", "./sender/cmd/quicast-send")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build binaries: %v\n%s", err, out)
	}
	binDir = dir
	if *artifactsDir == "" {
		a, err := os.MkdirTemp("", "quicast-e2e-artifacts-")
		if err != nil {
			return 0, err
		}
		*artifactsDir = a
	}
	if err := os.MkdirAll(*artifactsDir, 0o755); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the quicast module")
	}
	return filepath.Dir(mod), nil
}

// freePort returns a port free on 127.0.0.1 for both UDP and TCP: the relay
// serves QUIC+SRTP on UDP and HTTPS on TCP with one port number.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// proc is a quicast binary running for one test. Its output goes to the test
// log when the test fails and is kept for assertions.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // valid after done is closed
}

// syncBuffer is a process's output, written by its copier goroutine and
// read by the test, which can wait for what it expects to be written.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // signalled (without blocking) after each write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	if s.written == nil {
		s.written = make(chan struct{}, 1)
	}
	c := s.written
	s.mu.Unlock()
	select {
	case c <- struct{}{}:
	default:
	}
	return n, err
}

// await waits until cond holds for the output, or until stop is closed
// or d passes; it reports whether cond held.
func (s *syncBuffer) await(d time.Duration, stop <-chan struct{}, cond func(out string) bool) bool {
	s.mu.Lock()
	if s.written == nil {
		s.written = make(chan struct{}, 1)
	}
	c := s.written
	s.mu.Unlock()
	timeout := time.After(d)
	for {
		if cond(s.String()) {
			return true
		}
		select {
		case <-c:
		case <-stop:
			return cond(s.String())
		case <-timeout:
			return false
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s %s output:\n%s", name, strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// stop interrupts the process as Ctrl-C would and waits for it to end.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits up to d for the process to exit and returns its error.
func (p *proc) wait(d time.Duration) (exited bool, err error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(d):
		return false, nil
	}
}

// relay is a quicast-relay serving on loopback with a demo user and stream.
type relay struct {
	*proc
	port     int
	data     string
	user     string
	password string
	stream   string
	key      string
	host     string   // the browser's name for the relay; default 127.0.0.1
	flags    []string // more command-line flags
}

func (r *relay) base() string {
	host := r.host
	if host == "" {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("https://%s:%d", host, r.port)
}

func (r *relay) caFile() string { return filepath.Join(r.data, "certs", "ca.pem") }

// client returns an HTTPS client that trusts the relay's CA.
func (r *relay) client(t testing.TB) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(r.caFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("no certificate in %s", r.caFile())
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// metrics returns the relay's Prometheus counters named name (without
// the quicast_ prefix), by their labels as written ({leg="in",over="50ms"}),
// read from /metrics as this machine may.
func (r *relay) metrics(t testing.TB, name string) map[string]float64 {
	t.Helper()
	return relaytest.ScrapeMetrics(t, r.client(t), r.base(), name)
}

func startRelay(t testing.TB, flags ...string) *relay {
	t.Helper()
	data := t.TempDir()
	envFile := filepath.Join(data, "demo.env")
	out, err := exec.Command(filepath.Join(binDir, "quicast-relay"), "-data", data, "demo", "-env", envFile).CombinedOutput()
	if err != nil {
		t.Fatalf("quicast-relay demo: %v\n%s", err, out)
	}
	env, err := readEnv(envFile)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{port: freePort(t), data: data, user: env["QUICAST_USER"], password: env["QUICAST_PASSWORD"],
		stream: env["QUICAST_STREAM"], key: env["QUICAST_KEY"], flags: flags}
	if r.user == "" || r.password == "" || r.stream == "" || r.key == "" {
		t.Fatalf("demo credentials incomplete: %v", env)
	}
	r.launch(t)
	return r
}

// launch starts the relay process and waits until it says it serves.
func (r *relay) launch(t testing.TB) {
	t.Helper()
	r.proc = start(t, "quicast-relay", append([]string{"-listen", fmt.Sprintf("127.0.0.1:%d", r.port), "-data", r.data}, r.flags...)...)
	if !r.out.await(30*time.Second, r.done, func(out string) bool { return strings.Contains(out, "serving on") }) {
		if exited, err := r.wait(0); exited {
			t.Fatalf("relay exited: %v\n%s", err, r.out.String())
		}
		t.Fatalf("relay not serving after 30 s\n%s", r.out.String())
	}
}

// restart starts the stopped (or killed) relay again on the same port and
// data directory; it returns when the new one accepts connections.
func (r *relay) restart(t testing.TB) time.Time {
	t.Helper()
	r.stop()
	r.launch(t)
	return time.Now()
}

// addStream creates another stream on the relay's data directory and
// returns its publish key.
func (r *relay) addStream(t testing.TB, name string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "quicast-relay"), "-data", r.data, "stream", "add", name).Output()
	if err != nil {
		t.Fatalf("stream add %s: %v", name, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		t.Fatalf("stream add %s printed nothing", name)
	}
	return fields[len(fields)-1]
}

// publish starts quicast-send publishing to the relay.
func (r *relay) publish(t testing.TB, stream, key string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-relay", r.base(), "-stream", stream, "-key", key, "-ca", r.caFile()}, extra...)
	return start(t, "quicast-send", args...)
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'`)
		}
		env[k] = v
	}
	return env, sc.Err()
}

// waitFor polls cond every 200 ms until it returns true or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var _ = io.Discard
