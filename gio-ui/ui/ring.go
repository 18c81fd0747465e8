package ui

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/watch"
)

// Calling a person through a relay (protocol README §4.3): with "Ring me
// here" on, the window logs in and waits for calls; one rings with who
// calls and to which room, and Answer joins that room. In a call, the
// window calls someone to its room by name.

// ringer waits for calls to this side's account on a relay.
type ringer struct {
	wc      *watch.Client
	cancel  context.CancelFunc
	done    chan struct{}
	changed func()

	mu      sync.Mutex
	ringing []protocol.Invite
	missed  []protocol.MissedCall
	err     error // cannot wait for calls (wrong password, …)
	ready   bool  // logged in: a call from now on rings
}

// startRinger logs in to relay as user and waits for calls until close.
func startRinger(relay, caFile, pin, user, password string, changed func()) *ringer {
	ctx, cancel := context.WithCancel(context.Background())
	r := &ringer{cancel: cancel, done: make(chan struct{}), changed: changed}
	tc, err := certs.ClientConfig(caFile, pin)
	if err != nil {
		r.err = err
		cancel()
		close(r.done)
		return r
	}
	r.wc = watch.NewClient(watch.Config{Relay: relay, TLS: tc})
	go func() {
		defer close(r.done)
		r.run(ctx, user, password)
	}()
	return r
}

func (r *ringer) run(ctx context.Context, user, password string) {
	set := func(f func()) {
		r.mu.Lock()
		f()
		r.mu.Unlock()
		r.changed()
	}
	var err error
	var b protocol.Backoff
	loggedIn := false
	for attempt := 0; ctx.Err() == nil; {
		if !loggedIn {
			err := r.wc.Login(ctx, user, password)
			if errors.Is(err, watch.ErrLogin) {
				set(func() { r.err = err })
				return
			}
			loggedIn = err == nil
			if loggedIn {
				set(func() { r.ready = true })
			}
		}
		var p protocol.Invites
		if loggedIn {
			wait := 25 * time.Second
			r.mu.Lock()
			if len(r.ringing) > 0 {
				wait = 0 // look again soon: answered elsewhere, rung out
			}
			r.mu.Unlock()
			p, err = r.wc.Invites(ctx, wait)
			if errors.Is(err, watch.ErrLoginNeeded) {
				loggedIn = false
			}
		}
		if err != nil || !loggedIn {
			attempt++
			if !sleepCtx(ctx, b.Delay(attempt, 0.5)) {
				return
			}
			continue
		}
		attempt = 0
		set(func() { r.ringing, r.missed, r.err = p.Ringing, p.Missed, nil })
		if len(p.Ringing) > 0 && !sleepCtx(ctx, 1500*time.Millisecond) {
			return
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waiting reports whether the ringer has logged in: a call made from now
// on rings.
func (r *ringer) waiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// status returns the call ringing now (ok false: none), the missed calls
// and why calls cannot come.
func (r *ringer) status() (ring protocol.Invite, ok bool, missed []protocol.MissedCall, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ringing) > 0 {
		ring, ok = r.ringing[0], true
	}
	return ring, ok, r.missed, r.err
}

// answer or decline the ringing call id, in the background; done is
// called with the result.
func (r *ringer) respond(id string, answer bool, done func(error)) {
	r.mu.Lock()
	r.ringing = nil // stops ringing here at once
	r.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		f := r.wc.Decline
		if answer {
			f = r.wc.Answer
		}
		done(f(ctx, id))
	}()
}

func (r *ringer) close() {
	r.cancel()
	<-r.done
}

// inviteStatus is how calling someone to the room goes.
type inviteStatus struct {
	User, State string // protocol.InviteRinging, …; "" with Err
	Err         error
}

// invite calls user to the call's room and follows the invitation until
// it is answered, declined or rings out.
func (c *call) invite(user string) {
	c.mu.Lock()
	wc, room := c.wc, c.room
	c.inviting = &inviteStatus{User: user, State: protocol.InviteRinging}
	c.mu.Unlock()
	c.changed()
	if wc == nil {
		return
	}
	set := func(s inviteStatus) {
		c.mu.Lock()
		c.inviting = &s
		c.mu.Unlock()
		c.changed()
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		in, err := wc.Invite(ctx, room, user)
		if err != nil {
			set(inviteStatus{User: user, Err: err})
			return
		}
		for in.State == protocol.InviteRinging {
			if !sleepCtx(ctx, time.Second) {
				return
			}
			if in, err = wc.InviteState(ctx, in.ID); err != nil {
				set(inviteStatus{User: user, Err: err})
				return
			}
		}
		set(inviteStatus{User: user, State: in.State})
	}()
}
