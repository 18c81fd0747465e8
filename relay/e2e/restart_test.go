package e2e

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// TestRestartsMidStream restarts everything a viewer depends on while one
// watches in Chromium, as happens outside the lab: the broadcaster stops
// and starts again, the broadcaster is killed, and the relay restarts —
// gracefully and killed. Each time the same page, without a reload, says
// what is happening and plays again, audio included, in lip-sync.
func TestRestartsMidStream(t *testing.T) {
	r := startRelay(t)
	send := r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	ctx := openWatch(t, r, r.stream)
	s := waitStats(t, ctx, 60*time.Second, "playing", func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= 30 && s.AudioSamplesPlayed >= 48000
	})
	t.Logf("playing: %v", s)
	if s.Viewers != 1 || s.Muted {
		t.Errorf("viewers %d, muted %v; want 1 viewer and sound", s.Viewers, s.Muted)
	}

	// The broadcaster stops (Ctrl-C) and starts again: a new publish
	// session with new SSRCs, sequence numbers and timestamps.
	send.stop()
	s = waitStats(t, ctx, 20*time.Second, "ended after the sender stopped", func(s playerStats) bool { return s.State == "ended" })
	send = r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	s = playsAgain(t, ctx, "after the broadcaster started again", s)
	if s.Broadcasts < 2 {
		t.Errorf("%d broadcasts seen, want a second one", s.Broadcasts)
	}

	// The broadcaster dies (SIGKILL): no goodbye. The page says it stalled
	// before the relay gives the sender up.
	send.kill()
	waitStats(t, ctx, 20*time.Second, "stalled after the sender was killed", func(s playerStats) bool { return s.State == "stalled" })
	s = waitStats(t, ctx, 30*time.Second, "ended once the relay gave the sender up", func(s playerStats) bool { return s.State == "ended" })
	send = r.publish(t, r.stream, r.key, "-video", "test", "-audio", "test")
	s = playsAgain(t, ctx, "after a new sender", s)

	// The relay restarts (Ctrl-C, then started again): the sender publishes
	// again by itself, the page reconnects by itself, the login survives.
	r.stop()
	s = waitStats(t, ctx, 20*time.Second, "reconnecting while the relay is down", func(s playerStats) bool { return s.State == "reconnecting" })
	back := r.restart(t)
	s = playsAgain(t, ctx, "after the relay restarted", s)
	t.Logf("relay restart: playing again %v after the relay was back", time.Since(back).Round(10*time.Millisecond))
	if !strings.Contains(send.out.String(), "publishing again") {
		t.Errorf("the sender did not say it published again:\n%s", send.out.String())
	}

	// The relay is killed: no goodbye to anyone. The restarted relay
	// resets the old QUIC connections (stateless reset, the key is kept in
	// the data directory) and the sender notices nobody listens.
	r.kill()
	s, _ = stats(ctx)
	back = r.restart(t)
	s = playsAgain(t, ctx, "after the relay was killed and restarted", s)
	t.Logf("relay kill: playing again %v after the relay was back", time.Since(back).Round(10*time.Millisecond))
	if exited, err := send.wait(0); exited {
		t.Fatalf("the sender exited: %v", err)
	}
	screenshot(t, ctx, "after-restarts")
}

// playsAgain waits until the page plays again, video and audio, in
// lip-sync, after what happened; it returns the new figures.
func playsAgain(t testing.TB, ctx context.Context, what string, before playerStats) playerStats {
	t.Helper()
	s := waitStats(t, ctx, 45*time.Second, "playing "+what, func(s playerStats) bool {
		return s.State == "playing" && s.VideoFramesRendered >= before.VideoFramesRendered+30 &&
			s.AudioSamplesPlayed >= before.AudioSamplesPlayed+48000 && math.Abs(s.AVSkewClockMS) < 500
	})
	t.Logf("%s: %v skew %.0f ms (clocks), %.0f ms (flash/beep)", what, s, s.AVSkewClockMS, s.AVSkewMS)
	return s
}
