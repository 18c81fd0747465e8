package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/ticket"
	"github.com/quicast/quicast/relay/internal/store"
)

// fakeMedia records what the web side asks of the media side.
type fakeMedia struct {
	published  []string
	served     []string // "stream/user"
	publishers []string // "stream keyID"
}

func (m *fakeMedia) Publish(_ context.Context, stream, _ string, _ protocol.PublishRequest) (protocol.PublishResponse, error) {
	m.published = append(m.published, stream)
	return protocol.PublishResponse{VideoSSRC: 1, AudioSSRC: 2}, nil
}

func (m *fakeMedia) ServeViewer(w http.ResponseWriter, _ *http.Request, stream, user string) {
	m.served = append(m.served, stream+"/"+user)
	w.WriteHeader(http.StatusOK)
}

func (m *fakeMedia) StreamStatus(string) (bool, int) { return true, 3 }

func (m *fakeMedia) ServePublisher(w http.ResponseWriter, _ *http.Request, stream, keyID string) {
	m.publishers = append(m.publishers, stream+" "+keyID)
	w.WriteHeader(http.StatusOK)
}

func (m *fakeMedia) RoomParticipants(room string) []protocol.Participant {
	return []protocol.Participant{{User: "bob", Stream: protocol.RoomStream(room, "bob")}}
}

type fixture struct {
	h   *Handler
	st  *store.Store
	m   *fakeMedia
	key string
	now time.Time
}

var wasm = bytes.Repeat([]byte("\x00asm quicast "), 1000)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddUser("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	key, err := st.AddStream("demo")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(wasm)
	zw.Close()
	f := &fixture{st: st, m: &fakeMedia{}, key: key, now: time.Now()}
	f.h, err = New(Config{Store: st, Media: f.m, Now: func() time.Time { return f.now },
		CertHashes: func() [][32]byte { return [][32]byte{{1, 2, 3}} },
		Assets: fstest.MapFS{
			"login.html":           {Data: []byte("<form>login</form>")},
			"index.html":           {Data: []byte("streams")},
			"watch.html":           {Data: []byte("watch")},
			"static/app.js":        {Data: []byte("console.log(1)")},
			"static/main.wasm.gz":  {Data: gz.Bytes()},
			"static/wasm_exec.js":  {Data: []byte("go")},
			"static/style.css":     {Data: []byte("body{}")},
			"static/worklet.js":    {Data: []byte("x")},
			"static/sub/other.txt": {Data: []byte("x")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) do(method, target string, body io.Reader, hdr map[string]string, cookies ...*http.Cookie) *http.Response {
	r := httptest.NewRequest(method, "https://relay.test"+target, body)
	if method == http.MethodConnect {
		// An extended CONNECT (RFC 9220) carries a path, as HTTP/3 delivers it.
		r.URL, _ = url.Parse("https://relay.test" + target)
		r.Proto = "webtransport"
	}
	r.RemoteAddr = "192.0.2.1:1234"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Result()
}

func (f *fixture) login(t *testing.T) *http.Cookie {
	t.Helper()
	resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"correct horse"}`),
		map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

func TestLoginCookie(t *testing.T) {
	f := newFixture(t)
	resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"correct horse"}`),
		map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %s", resp.Status)
	}
	c := resp.Cookies()
	if len(c) != 1 || c[0].Name != cookieName || !c[0].HttpOnly || !c[0].Secure ||
		c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/" || len(c[0].Value) < 40 {
		t.Fatalf("session cookie %+v", c)
	}
	if resp := f.do("GET", "/api/streams", nil, nil, c[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("streams with the cookie: %s", resp.Status)
	} else {
		var list []StreamInfo
		json.NewDecoder(resp.Body).Decode(&list)
		if len(list) != 1 || list[0] != (StreamInfo{Name: "demo", Live: true, Viewers: 3}) {
			t.Errorf("stream list %+v", list)
		}
	}
	// Logout ends the session on the server, not only in the browser.
	if resp := f.do("POST", "/api/logout", nil, map[string]string{"Content-Type": "application/json"}, c[0]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %s", resp.Status)
	}
	if resp := f.do("GET", "/api/streams", nil, nil, c[0]); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("streams after logout: %s", resp.Status)
	}
}

func TestLoginRefused(t *testing.T) {
	f := newFixture(t)
	for _, body := range []string{
		`{"username":"alice","password":"wrong"}`,
		`{"username":"bob","password":"correct horse"}`,
		`{"username":"alice"}`,
	} {
		resp := f.do("POST", "/api/login", strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("%s: %s with %d cookies", body, resp.Status, len(resp.Cookies()))
		}
	}
	if resp := f.do("POST", "/api/login", strings.NewReader(`{"username":`), map[string]string{"Content-Type": "application/json"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed JSON: %s", resp.Status)
	}
	// The form says so on the login page.
	resp := f.do("POST", "/api/login", strings.NewReader("username=alice&password=nope&next=/watch/demo"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?error=1" || len(resp.Cookies()) != 0 {
		t.Errorf("form with a wrong password: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if n := f.h.Counters.LoginFailures.Load(); n != 4 {
		t.Errorf("%d login failures counted, want 4", n)
	}
}

func TestLoginThrottled(t *testing.T) {
	f := newFixture(t)
	throttled := 0
	for range loginBurst + 3 {
		resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"guess"}`),
			map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode == http.StatusTooManyRequests {
			throttled++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	// The relay's clock stands still: the burst passes, the rest waits.
	if throttled != 3 {
		t.Errorf("%d of %d attempts in one instant throttled, want 3", throttled, loginBurst+3)
	}
	f.now = f.now.Add(time.Second / loginPerSec)
	resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"correct horse"}`),
		map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("a login a second later: %s", resp.Status)
	}
}

func TestFormLoginRedirects(t *testing.T) {
	f := newFixture(t)
	for next, want := range map[string]string{
		"/watch/demo":          "/watch/demo",
		"":                     "/",
		"//evil.example/x":     "/",
		"https://evil.example": "/",
		"/\\evil.example/x":    "/", // a browser reads \ as /
		"/\t/evil.example/x":   "/", // and drops the tab
		"/\n/evil.example/x":   "/",
		"/%5Cevil.example/x":   "/%5Cevil.example/x", // escaped: a path here
		"/watch/demo?x=1":      "/watch/demo?x=1",
		"javascript:alert(1)":  "/",
	} {
		f.h.limits.byIP = nil // fresh budget per case
		form := url.Values{"username": {"alice"}, "password": {"correct horse"}, "next": {next}}
		resp := f.do("POST", "/api/login", strings.NewReader(form.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("next=%q: %s to %q, want %q", next, resp.Status, resp.Header.Get("Location"), want)
		}
	}
}

func TestPagesNeedLogin(t *testing.T) {
	f := newFixture(t)
	resp := f.do("GET", "/watch/demo", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fwatch%2Fdemo" {
		t.Errorf("watch without a session: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if resp := f.do("GET", "/login", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("login page: %s", resp.Status)
	}
	c := f.login(t)
	resp = f.do("GET", "/watch/demo", nil, nil, c)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(b) != "watch" {
		t.Errorf("watch page: %s %q", resp.Status, b)
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("security headers missing")
	}
	if resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" || resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Error("the watch page is not cross-origin isolated: its player cannot share memory with the audio worklet")
	}
	// An expired session is no session.
	f.now = f.now.Add(sessionTTL + time.Minute)
	if resp := f.do("GET", "/", nil, nil, c); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("stream list with an expired session: %s", resp.Status)
	}
}

func TestTicket(t *testing.T) {
	f := newFixture(t)
	if resp := f.do("GET", "/api/ticket?stream=demo", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ticket without a session: %s", resp.Status)
	}
	c := f.login(t)
	if resp := f.do("GET", "/api/ticket?stream=nope", nil, nil, c); resp.StatusCode != http.StatusNotFound {
		t.Errorf("ticket for an unknown stream: %s", resp.Status)
	}
	resp := f.do("GET", "/api/ticket?stream=demo", nil, nil, c)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ticket: %s", resp.Status)
	}
	var tr TicketResponse
	json.NewDecoder(resp.Body).Decode(&tr)
	tk, err := ticket.Verify(f.st.TicketKey(), tr.Ticket, "demo", f.now)
	if err != nil || tk.User != "alice" {
		t.Fatalf("issued ticket: %+v %v", tk, err)
	}
	if !strings.HasPrefix(tr.URL, "https://relay.test/wt/demo?ticket=") || len(tr.CertHashes) != 1 {
		t.Errorf("ticket response %+v", tr)
	}
	// The WebTransport endpoint checks it before the media side sees anything.
	if resp := f.do("CONNECT", "/wt/demo?ticket="+url.QueryEscape(tr.Ticket), nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("valid ticket: %s", resp.Status)
	}
	if resp := f.do("CONNECT", "/wt/other?ticket="+url.QueryEscape(tr.Ticket), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("ticket for another stream: %s", resp.Status)
	}
	// A ticket opens one session.
	if resp := f.do("CONNECT", "/wt/demo?ticket="+url.QueryEscape(tr.Ticket), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a ticket used twice: %s", resp.Status)
	}
	// A ticket taken before logging out is worth nothing after.
	resp = f.do("GET", "/api/ticket?stream=demo", nil, nil, c)
	var before TicketResponse
	json.NewDecoder(resp.Body).Decode(&before)
	f.do("POST", "/api/logout", nil, map[string]string{"Content-Type": "application/json"}, c)
	if resp := f.do("CONNECT", "/wt/demo?ticket="+url.QueryEscape(before.Ticket), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a ticket after its login ended: %s", resp.Status)
	}
	c = f.login(t)
	resp = f.do("GET", "/api/ticket?stream=demo", nil, nil, c)
	json.NewDecoder(resp.Body).Decode(&tr)
	f.now = f.now.Add(ticketTTL + time.Second)
	if resp := f.do("CONNECT", "/wt/demo?ticket="+url.QueryEscape(tr.Ticket), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired ticket: %s", resp.Status)
	}
	if len(f.m.served) != 1 || f.m.served[0] != "demo/alice" {
		t.Errorf("media side served %v, want only demo/alice", f.m.served)
	}
	if n := f.h.Counters.TicketsRefused.Load(); n != 4 {
		t.Errorf("%d tickets refused, want 4", n)
	}
}

func TestPublishKey(t *testing.T) {
	f := newFixture(t)
	body := func(stream string) io.Reader {
		b, _ := json.Marshal(protocol.PublishRequest{Stream: stream})
		return bytes.NewReader(b)
	}
	for _, tc := range []struct {
		name, stream, auth string
		want               int
	}{
		{"no key", "demo", "", http.StatusUnauthorized},
		{"wrong key", "demo", "Bearer nope", http.StatusUnauthorized},
		// Not 404: an unknown stream looks like a wrong key to whoever asks.
		{"unknown stream", "other", "Bearer " + f.key, http.StatusUnauthorized},
		{"right key", "demo", "Bearer " + f.key, http.StatusOK},
	} {
		resp := f.do("POST", protocol.PathPublish, body(tc.stream), map[string]string{"Authorization": tc.auth})
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.want)
			continue
		}
		if tc.want != http.StatusOK {
			var e protocol.ErrorResponse
			if json.NewDecoder(resp.Body).Decode(&e); e.Error == "" {
				t.Errorf("%s: no error message", tc.name)
			}
			continue
		}
		var pr protocol.PublishResponse
		json.NewDecoder(resp.Body).Decode(&pr)
		if pr.WatchURL != "https://relay.test/watch/demo" {
			t.Errorf("watch URL %q", pr.WatchURL)
		}
	}
	if resp := f.do("POST", protocol.PathPublish, strings.NewReader("{"), map[string]string{"Authorization": "Bearer " + f.key}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed request: %s", resp.Status)
	}
	if n := f.h.Counters.PublishRefused.Load(); n != 3 {
		t.Errorf("%d refusals counted, want 3", n)
	}
	if len(f.m.published) != 1 {
		t.Errorf("media side saw %d publish sessions, want 1", len(f.m.published))
	}
}

func TestStaticAssets(t *testing.T) {
	f := newFixture(t)
	resp := f.do("GET", "/static/main.wasm", nil, map[string]string{"Accept-Encoding": "gzip, br"})
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("wasm headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); !bytes.Equal(b, wasm) {
		t.Error("gzipped wasm differs")
	}
	// A client without gzip gets it decompressed.
	resp = f.do("GET", "/static/main.wasm", nil, nil)
	if b, _ := io.ReadAll(resp.Body); resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, wasm) {
		t.Error("plain wasm differs")
	}
	if resp := f.do("GET", "/static/app.js", nil, nil); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("app.js served as %q", resp.Header.Get("Content-Type"))
	}
	// Revalidated, not downloaded again, while it has not changed.
	tag := resp.Header.Get("ETag")
	if tag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("wasm without validator: %v", resp.Header)
	}
	if r := f.do("GET", "/static/main.wasm", nil, map[string]string{"If-None-Match": tag, "Accept-Encoding": "gzip"}); r.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating the same wasm: %s", r.Status)
	}
	js := f.do("GET", "/static/app.js", nil, nil).Header.Get("ETag")
	if js == tag || js == "" {
		t.Errorf("app.js ETag %q (wasm %q)", js, tag)
	}
	if r := f.do("GET", "/static/app.js", nil, map[string]string{"If-None-Match": tag}); r.StatusCode != http.StatusOK {
		t.Errorf("app.js with the wasm's ETag: %s", r.Status)
	}
	for _, p := range []string{"/static/missing.js", "/static/../login.html", "/static/%2e%2e/login.html"} {
		if resp := f.do("GET", p, nil, nil); resp.StatusCode != http.StatusNotFound && resp.StatusCode/100 != 3 {
			t.Errorf("%s: %s", p, resp.Status)
		}
	}
}

func TestViewerNotBuilt(t *testing.T) {
	f := newFixture(t)
	f.h.cfg.Assets = fstest.MapFS{}
	if resp := f.do("GET", "/static/main.wasm", nil, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("missing wasm: %s", resp.Status)
	}
	if resp := f.do("GET", "/login", nil, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("missing login page: %s", resp.Status)
	}
}

func TestWebTransportHost(t *testing.T) {
	for _, c := range []struct{ host, local, want string }{
		{"relay.example:8443", "10.0.0.5:8443", "relay.example:8443"},
		{"127.0.0.1:8443", "127.0.0.1:8443", "127.0.0.1:8443"},
		{"localhost:8443", "127.0.0.1:8443", "127.0.0.1:8443"},
		{"LocalHost:8443", "[::1]:8443", "[::1]:8443"},
		{"localhost:8443", "", "localhost:8443"}, // no connection address known
	} {
		r := httptest.NewRequest("GET", "/api/ticket", nil)
		r.Host = c.host
		if c.local != "" {
			addr, err := net.ResolveTCPAddr("tcp", c.local)
			if err != nil {
				t.Fatal(err)
			}
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr))
		}
		if got := webTransportHost(r); got != c.want {
			t.Errorf("page on %s reached at %s: WebTransport to %s, want %s", c.host, c.local, got, c.want)
		}
	}
}

func TestSameHost(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		ok           bool
	}{
		{"", "relay.example:8443", true}, // not a browser
		{"https://relay.example:8443", "relay.example:8443", true},
		{"https://relay.example", "RELAY.example:8443", true},
		{"https://localhost:8443", "127.0.0.1:8443", true},
		{"https://localhost:8443", "[::1]:8443", true},
		{"https://evil.example", "relay.example:8443", false},
		{"https://evil.example", "127.0.0.1:8443", false},
		{"https://localhost:8443", "relay.example:8443", false},
		{"::not a url", "relay.example:8443", false},
	} {
		r := httptest.NewRequest("CONNECT", "/wt/demo", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := SameHost(r); got != c.ok {
			t.Errorf("origin %q to %s: allowed %v, want %v", c.origin, c.host, got, c.ok)
		}
	}
}

// TestCrossSiteRequestsRefused: a page on another site cannot log a
// visitor in or out (W3C Fetch Metadata and Origin), while the relay's own
// pages and programs without a browser (the sender) can.
func TestCrossSiteRequestsRefused(t *testing.T) {
	f := newFixture(t)
	c := f.login(t)
	loginBody := func() io.Reader { return strings.NewReader(`{"username":"alice","password":"correct horse"}`) }
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
	} {
		hdr["Content-Type"] = "application/json"
		if resp := f.do("POST", "/api/login", loginBody(), hdr); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("login with %v: %s, %d cookies", hdr, resp.Status, len(resp.Cookies()))
		}
		if resp := f.do("POST", "/api/logout", nil, hdr, c); resp.StatusCode != http.StatusForbidden {
			t.Errorf("logout with %v: %s", hdr, resp.Status)
		}
	}
	if resp := f.do("GET", "/api/streams", nil, nil, c); resp.StatusCode != http.StatusOK {
		t.Errorf("the session after cross-site logouts: %s", resp.Status)
	}
	if n := f.h.Counters.CrossOrigin.Load(); n != 6 {
		t.Errorf("%d cross-origin refusals counted, want 6", n)
	}
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "same-origin"},
		{"Origin": "https://relay.test"},
	} {
		hdr["Content-Type"] = "application/json"
		if resp := f.do("POST", "/api/login", loginBody(), hdr); resp.StatusCode != http.StatusNoContent {
			t.Errorf("login with %v: %s", hdr, resp.Status)
		}
	}
	b, _ := json.Marshal(protocol.PublishRequest{Stream: "demo"})
	if resp := f.do("POST", protocol.PathPublish, bytes.NewReader(b), map[string]string{"Authorization": "Bearer " + f.key}); resp.StatusCode != http.StatusOK {
		t.Errorf("publish from a program: %s", resp.Status)
	}
}

// TestPasswordChecksBounded: logins from many addresses at once (which the
// per-address limit lets through) run at most one password check per core
// at a time.
func TestPasswordChecksBounded(t *testing.T) {
	f := newFixture(t)
	// 24 argon2id checks on a loaded 2-core machine can take longer than
	// loginWait; the wait is TestLoginBusy's subject, not this one's.
	f.h.loginWait = time.Hour
	var wg sync.WaitGroup
	codes := make([]int, 24)
	for i := range codes {
		wg.Go(func() {
			r := httptest.NewRequest("POST", "https://relay.test/api/login", strings.NewReader(`{"username":"alice","password":"guess"}`))
			r.Header.Set("Content-Type", "application/json")
			r.RemoteAddr = net.JoinHostPort(fmt.Sprintf("198.51.100.%d", i+1), "1234")
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			codes[i] = w.Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusUnauthorized {
			t.Errorf("login %d: %d, want 401", i, c)
		}
	}
	if max, slots := f.h.hashingMax.Load(), cap(f.h.hashing); max < 1 || int(max) > slots {
		t.Errorf("%d password checks ran at once, want 1…%d", max, slots)
	}
}

// TestLoginBusy: when every check slot stays taken, a login is told to
// come back (503, Retry-After) instead of waiting without end.
func TestLoginBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		for range cap(f.h.hashing) {
			f.h.hashing <- struct{}{}
		}
		resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"correct horse"}`),
			map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || len(resp.Cookies()) != 0 {
			t.Errorf("login with every slot taken: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
		}
		if n := f.h.Counters.LoginBusy.Load(); n != 1 {
			t.Errorf("%d busy refusals counted, want 1", n)
		}
		<-f.h.hashing
		if resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"correct horse"}`),
			map[string]string{"Content-Type": "application/json"}); resp.StatusCode != http.StatusNoContent {
			t.Errorf("login with a slot free: %s", resp.Status)
		}
	})
}

// TestLimiterTableFull: a flood of new addresses filling the limiter table
// does not give a throttled address its budget back.
func TestLimiterTableFull(t *testing.T) {
	f := newFixture(t)
	for range loginBurst {
		f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"guess"}`), map[string]string{"Content-Type": "application/json"})
	}
	for i := len(f.h.limits.byIP); i < maxLimiterIPs; i++ {
		f.h.limits.byIP[fmt.Sprintf("fresh-%d", i)] = rate.NewLimiter(loginPerSec, loginBurst)
	}
	r := httptest.NewRequest("POST", "https://relay.test/api/login", nil)
	r.RemoteAddr = "203.0.113.9:1"
	f.h.limiter(r) // a new address: the table is full
	if len(f.h.limits.byIP) > maxLimiterIPs {
		t.Errorf("%d limiters, want at most %d", len(f.h.limits.byIP), maxLimiterIPs)
	}
	resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"alice","password":"correct horse"}`), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the throttled address after the table filled: %s, want 429", resp.Status)
	}
}

func TestStrictTransportSecurity(t *testing.T) {
	f := newFixture(t)
	for host, want := range map[string]bool{"relay.example.com": true, "relay.example.com:4433": true,
		"127.0.0.1:4433": false, "localhost:4433": false, "[::1]:4433": false, "192.0.2.7": false, "myhost:4433": false} {
		r := httptest.NewRequest("GET", "https://"+host+"/login", nil)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if got := w.Header().Get("Strict-Transport-Security") != ""; got != want {
			t.Errorf("%s: HSTS %v, want %v", host, got, want)
		}
	}
}

// TestOriginCheck: the origins an operator lists are allowed besides the
// relay's own host; every other site is refused.
func TestOriginCheck(t *testing.T) {
	check := OriginCheck([]string{"https://Watch.Example.org/", "https://partner.example:8443"})
	for origin, want := range map[string]bool{
		"":                               true, // not a browser
		"https://relay.test:4433":        true, // the relay's own pages
		"https://watch.example.org":      true,
		"https://partner.example:8443":   true,
		"https://partner.example":        false, // another port is another origin
		"https://evil.example":           false,
		"https://watch.example.org.evil": false,
	} {
		r := httptest.NewRequest("GET", "https://relay.test:4433/wt/demo", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := check(r); got != want {
			t.Errorf("origin %q: allowed %v, want %v", origin, got, want)
		}
	}
}

func TestRooms(t *testing.T) {
	f := newFixture(t)
	if err := f.st.AddRoom("team"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddUser("bob", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if resp := f.do("POST", "/api/rooms/team/join", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("join without login: %s", resp.Status)
	}
	c := f.login(t)
	if resp := f.do("POST", "/api/rooms/nope/join", nil, nil, c); resp.StatusCode != http.StatusNotFound {
		t.Errorf("join an unknown room: %s", resp.Status)
	}
	var list []protocol.RoomInfo
	json.NewDecoder(f.do("GET", "/api/rooms/", nil, nil, c).Body).Decode(&list)
	if len(list) != 1 || list[0].Name != "team" || list[0].Live != 1 {
		t.Errorf("room list %+v", list)
	}
	var info protocol.RoomInfo
	json.NewDecoder(f.do("GET", "/api/rooms/team", nil, nil, c).Body).Decode(&info)
	if len(info.Participants) != 1 || info.Participants[0].Stream != "team.bob" {
		t.Errorf("room %+v", info)
	}
	join := func() protocol.RoomJoin {
		t.Helper()
		resp := f.do("POST", "/api/rooms/team/join", nil, nil, c)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("join: %s", resp.Status)
		}
		var j protocol.RoomJoin
		json.NewDecoder(resp.Body).Decode(&j)
		return j
	}
	j := join()
	if j.Stream != "team.alice" || j.PublishKey == "" || !strings.HasPrefix(j.URL, "https://relay.test/wt-publish/team.alice?ticket=") {
		t.Fatalf("join answer %+v", j)
	}
	publish := func(stream, key string) int {
		body := fmt.Sprintf(`{"stream":%q,"video":{"codec":"VP8","clockRate":90000}}`, stream)
		return f.do("POST", "/api/publish", strings.NewReader(body),
			map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + key}).StatusCode
	}
	if code := publish("team.alice", j.PublishKey); code != http.StatusOK {
		t.Errorf("publish with the join key: %d", code)
	}
	if code := publish("team.bob", j.PublishKey); code != http.StatusUnauthorized {
		t.Errorf("alice's key for bob's stream: %d", code)
	}
	if code := publish("team.alice", f.key); code != http.StatusUnauthorized {
		t.Errorf("a stream's key for a room stream: %d", code)
	}
	// A viewer ticket alice took to watch bob does not publish as bob.
	var tr TicketResponse
	json.NewDecoder(f.do("GET", "/api/ticket?stream=team.bob", nil, nil, c).Body).Decode(&tr)
	if resp := f.do("CONNECT", "/wt-publish/team.bob?ticket="+url.QueryEscape(tr.Ticket), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer ticket to publish as another: %s", resp.Status)
	}
	wt := strings.TrimPrefix(j.URL, "https://relay.test")
	if resp := f.do("CONNECT", wt, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("publish over WebTransport: %s", resp.Status)
	}
	if resp := f.do("CONNECT", wt, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the WebTransport ticket used twice: %s", resp.Status)
	}
	if len(f.m.publishers) != 1 || f.m.publishers[0] != "team.alice "+store.RoomKeyID("alice") {
		t.Errorf("media side served publishers %v", f.m.publishers)
	}
	// The key ends with the login it came from.
	f.do("POST", "/api/logout", nil, map[string]string{"Content-Type": "application/json"}, c)
	if code := publish("team.alice", j.PublishKey); code != http.StatusUnauthorized {
		t.Errorf("the join key after logging out: %d", code)
	}
	if len(f.m.published) != 1 {
		t.Errorf("media side published %v, want team.alice once", f.m.published)
	}
}

// TestInvites: calling a person — alice invites bob to a room; bob's long
// poll rings with it; he declines (alice sees it), answers another; one
// left to ring out is a missed call for bob and "missed" for alice.
func TestInvites(t *testing.T) {
	f := newFixture(t)
	if err := f.st.AddRoom("team"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddUser("bob", "battery staple"); err != nil {
		t.Fatal(err)
	}
	alice := f.login(t)
	resp := f.do("POST", "/api/login", strings.NewReader(`{"username":"bob","password":"battery staple"}`),
		map[string]string{"Content-Type": "application/json"})
	var bob *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			bob = c
		}
	}
	if bob == nil {
		t.Fatalf("bob's login: %s", resp.Status)
	}
	call := func(room, user string) (int, protocol.Invite) {
		resp := f.do("POST", "/api/rooms/"+room+"/invite", strings.NewReader(`{"user":"`+user+`"}`),
			map[string]string{"Content-Type": "application/json"}, alice)
		var in protocol.Invite
		json.NewDecoder(resp.Body).Decode(&in)
		return resp.StatusCode, in
	}
	for _, c := range []struct {
		room, user string
		code       int
	}{{"team", "nobody", 404}, {"nope", "bob", 404}, {"team", "alice", 400}} {
		if code, _ := call(c.room, c.user); code != c.code {
			t.Errorf("invite %s to %s: %d, want %d", c.user, c.room, code, c.code)
		}
	}
	pending := func(wait string) protocol.Invites {
		var p protocol.Invites
		json.NewDecoder(f.do("GET", "/api/invites/?wait="+wait, nil, nil, bob).Body).Decode(&p)
		return p
	}
	// Bob's page waits; alice's call wakes it.
	got := make(chan protocol.Invites, 1)
	go func() { got <- pending("25") }()
	code, in := call("team", "bob")
	if code != 200 || in.State != protocol.InviteRinging || in.From != "alice" || in.Room != "team" {
		t.Fatalf("invite: %d %+v", code, in)
	}
	if p := <-got; len(p.Ringing) != 1 || p.Ringing[0].ID != in.ID {
		t.Fatalf("bob's page: %+v", p)
	}
	state := func(id string, c *http.Cookie) string {
		var in protocol.Invite
		json.NewDecoder(f.do("GET", "/api/invites/"+id, nil, nil, c).Body).Decode(&in)
		return in.State
	}
	if r := f.do("POST", "/api/invites/"+in.ID+"/answer", nil, nil, alice); r.StatusCode != http.StatusNotFound {
		t.Errorf("the caller answering her own call: %s", r.Status)
	}
	f.do("POST", "/api/invites/"+in.ID+"/decline", nil, nil, bob)
	if s := state(in.ID, alice); s != protocol.InviteDeclined {
		t.Errorf("after bob declined alice sees %q", s)
	}
	if r := f.do("POST", "/api/invites/"+in.ID+"/answer", nil, nil, bob); r.StatusCode != http.StatusConflict {
		t.Errorf("answering a declined call: %s", r.Status)
	}
	if p := pending("0"); len(p.Ringing) != 0 {
		t.Errorf("still ringing after the decline: %+v", p)
	}

	_, in = call("team", "bob")
	f.do("POST", "/api/invites/"+in.ID+"/answer", nil, nil, bob)
	if s := state(in.ID, alice); s != protocol.InviteAnswered {
		t.Errorf("after bob answered alice sees %q", s)
	}

	_, in = call("team", "bob")
	f.now = f.now.Add(inviteTTL + time.Second)
	p := pending("0")
	if len(p.Ringing) != 0 || len(p.Missed) != 1 || p.Missed[0].From != "alice" || p.Missed[0].Room != "team" {
		t.Errorf("after it rang out bob has %+v", p)
	}
	if s := state(in.ID, alice); s != protocol.InviteMissed {
		t.Errorf("after it rang out alice sees %q", s)
	}
	if r := f.do("GET", "/api/invites/", nil, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("invites without a login: %s", r.Status)
	}
}
