//go:build js && wasm

package main

import (
	"slices"
	"sync"
	"syscall/js"
	"time"
)

// pageClock ticks every player of the page (Player.tick) from one ticker,
// one after the other. In WebAssembly each timer that fires is a wake-up of
// the Go runtime from JavaScript (a setTimeout, the scheduler, a goroutine
// switch per loop): with a ticker per player the three players of a
// four-person room page woke it 375 times a second, and its timer handling
// and goroutine switches were a sixth of the page's main thread (V8 CPU
// profile of the room page). One ticker wakes it 125 times, whatever the
// number of players.
type pageClock struct {
	mu      sync.Mutex
	players []ticker
	running bool

	// The AudioContext time heard at the last tick (quicastHeardAt),
	// kept for the players after the first that share its context, as
	// the players of a room page do.
	heardCtx js.Value
	heardNow time.Time
	heard    float64
}

var clock pageClock

// ticker is what the page clock ticks.
type ticker interface{ tick(now time.Time) }

// add ticks p from the next tick on, until remove.
func (c *pageClock) add(p ticker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.players = append(c.players, p)
	if !c.running {
		c.running = true
		go c.run()
	}
}

// remove stops ticking p. The ticker stops with the last player.
func (c *pageClock) remove(p ticker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.players = slices.DeleteFunc(c.players, func(q ticker) bool { return q == p })
}

func (c *pageClock) run() {
	t := time.NewTicker(tick)
	defer t.Stop()
	var ps []ticker
	for range t.C {
		c.mu.Lock()
		ps = append(ps[:0], c.players...)
		if len(ps) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		now := time.Now()
		for _, p := range ps {
			p.tick(now)
		}
		clear(ps) // no stopped player kept alive here
	}
}

// heardAt returns the time of AudioContext ctx (s) whose sample leaves the
// loudspeaker at now (static/player.js quicastHeardAt), 0 before the output
// starts; asked once per context and instant.
func (c *pageClock) heardAt(ctx js.Value, now time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !now.Equal(c.heardNow) || !ctx.Equal(c.heardCtx) {
		c.heardCtx, c.heardNow = ctx, now
		c.heard = helpers.heardAt.Invoke(ctx, float64(time.Since(now))/1e6).Float()
	}
	return c.heard
}
