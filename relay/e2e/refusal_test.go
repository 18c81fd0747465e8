package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/protocol/ticket"
	"github.com/quicast/quicast/relay/internal/store"
)

// TestLoginWrongPassword: the login page says so and no session exists.
func TestLoginWrongPassword(t *testing.T) {
	r := startRelay(t)
	ctx := newBrowser(t)
	login(t, ctx, r, r.user, r.password+"x")
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) {
		body, err := eval[string](ctx, `document.body.innerText`)
		return err == nil && strings.Contains(strings.ToLower(body), "wrong username or password"), err
	}); err != nil {
		screenshot(t, ctx, "login-wrong-password")
		t.Fatalf("login page does not say the password is wrong: %v", err)
	}
	screenshot(t, ctx, "login-wrong-password")
	// No session: the stream list sends the browser back to the login page.
	run(t, ctx, 10*time.Second, chromedp.Navigate(r.base()+"/"))
	if loc := location(t, ctx); !strings.HasPrefix(loc, "/login") {
		t.Errorf("after a failed login, / shows %q, want the login page", loc)
	}
}

// TestWebTransportRefusals: a WebTransport session without a ticket, with a
// forged, expired or other-stream ticket is refused before any media flows;
// a valid ticket opens one (so the refusals are not a generic failure).
func TestWebTransportRefusals(t *testing.T) {
	r := startRelay(t)
	r.addStream(t, "other")
	st, err := store.Open(r.data)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ticket.Sign(st.TicketKey(), ticket.Ticket{Stream: r.stream, User: r.user, Expires: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	login(t, ctx, r, r.user, r.password)
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) { return location(t, ctx) == "/", nil }); err != nil {
		t.Fatalf("login failed: at %q", location(t, ctx))
	}
	expiredJS, _ := json.Marshal(expired)
	streamJS, _ := json.Marshal(r.stream)
	js := `(async () => {
		const stream = ` + string(streamJS) + `, expired = ` + string(expiredJS) + `;
		const get = async (s) => (await fetch('/api/ticket?stream=' + encodeURIComponent(s))).json();
		const mine = await get(stream), other = await get('other');
		const opts = {};
		if (mine.certHashes && mine.certHashes.length) opts.serverCertificateHashes = mine.certHashes.map(h =>
			({algorithm: 'sha-256', value: Uint8Array.from(atob(h), c => c.charCodeAt(0))}));
		const base = mine.url.split('?')[0];
		const t = mine.ticket, i = t.length - 12;
		const forged = t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
		const tryOpen = async (url) => {
			const wt = new WebTransport(url, opts);
			const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 8000));
			try { await Promise.race([wt.ready, timeout]); wt.close(); return 'open'; }
			catch (e) { return 'refused: ' + (e && e.message || e); }
		};
		return {
			missing: await tryOpen(base),
			forged: await tryOpen(base + '?ticket=' + encodeURIComponent(forged)),
			expired: await tryOpen(base + '?ticket=' + encodeURIComponent(expired)),
			otherStream: await tryOpen(base + '?ticket=' + encodeURIComponent(other.ticket)),
			valid: await tryOpen(mine.url),
		};
	})()`
	res, err := eval[map[string]string](ctx, js)
	if err != nil {
		t.Fatalf("WebTransport attempts: %v", err)
	}
	t.Logf("WebTransport attempts: %v", res)
	for _, k := range []string{"missing", "forged", "expired", "otherStream"} {
		if !strings.HasPrefix(res[k], "refused") {
			t.Errorf("%s ticket: %q, want refused", k, res[k])
		}
	}
	if res["valid"] != "open" {
		t.Errorf("valid ticket: %q, want open", res["valid"])
	}
}

// TestWrongPublishKey: the sender exits with a clear message.
func TestWrongPublishKey(t *testing.T) {
	r := startRelay(t)
	s := r.publish(t, r.stream, "not-the-key", "-video", "test", "-audio", "none")
	exited, err := s.wait(20 * time.Second)
	if !exited {
		t.Fatal("quicast-send with a wrong key still runs after 20 s")
	}
	if err == nil {
		t.Error("quicast-send with a wrong key exited 0")
	}
	out := strings.ToLower(s.out.String())
	if !strings.Contains(out, "publish key") {
		t.Errorf("quicast-send output does not mention the publish key:\n%s", s.out.String())
	}
}

// TestSenderKilledViewerNotices: the watch page says the broadcast ended.
func TestSenderKilledViewerNotices(t *testing.T) {
	r := startRelay(t)
	snd := r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	ctx := openWatch(t, r, r.stream)
	waitStats(t, ctx, 60*time.Second, "playing", func(s playerStats) bool { return s.State == "playing" })
	snd.kill()
	s := waitStats(t, ctx, 30*time.Second, "ended after the sender died", func(s playerStats) bool {
		return strings.HasPrefix(s.State, "ended")
	})
	t.Logf("after the sender died: %v", s)
	screenshot(t, ctx, "sender-killed")
}

// TestRelayKilledSenderNotices: when the relay dies, the sender says it is
// reconnecting, counts its attempts and keeps running (TestRestartsMidStream
// sees it publish again when the relay is back).
func TestRelayKilledSenderNotices(t *testing.T) {
	r := startRelay(t)
	snd := r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	if err := waitFor(t.Context(), 30*time.Second, func() (bool, error) {
		return strings.Contains(snd.out.String(), "publishing"), nil
	}); err != nil {
		t.Fatalf("the sender did not publish:\n%s", snd.out.String())
	}
	r.kill()
	if err := waitFor(t.Context(), 30*time.Second, func() (bool, error) {
		return strings.Contains(snd.out.String(), "reconnecting (attempt 2"), nil
	}); err != nil {
		t.Fatalf("the sender did not say it reconnects:\n%s", snd.out.String())
	}
	if exited, err := snd.wait(0); exited {
		t.Fatalf("the sender gave up on the relay: %v\n%s", err, snd.out.String())
	}
	if !strings.Contains(snd.out.String(), "nothing listens") && !strings.Contains(snd.out.String(), "no RTCP") {
		t.Errorf("the sender does not say why it lost the relay:\n%s", snd.out.String())
	}
}
