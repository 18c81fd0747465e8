package web

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// loginLimits holds the per-address login budgets, under a lock of its
// own.
type loginLimits struct {
	mu   sync.Mutex
	byIP map[string]*rate.Limiter
}

// limiter returns the login budget of r's address.
func (h *Handler) limiter(r *http.Request) *rate.Limiter {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return h.limits.forAddr(ip, h.cfg.Now())
}

func (l *loginLimits) forAddr(ip string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP == nil {
		l.byIP = map[string]*rate.Limiter{}
	}
	lim, ok := l.byIP[ip]
	if !ok {
		if len(l.byIP) >= maxLimiterIPs {
			l.evictLocked(now)
		}
		lim = rate.NewLimiter(loginPerSec, loginBurst)
		l.byIP[ip] = lim
	}
	return lim
}

// evictLocked makes room in a full table: addresses whose budget is whole
// again are forgotten (a new limiter would be the same), and if none is,
// one at random, so a flood of new addresses cannot wipe the budget of the
// addresses being throttled.
func (l *loginLimits) evictLocked(now time.Time) {
	for ip, lim := range l.byIP {
		if lim.TokensAt(now) >= loginBurst {
			delete(l.byIP, ip)
		}
	}
	for ip := range l.byIP {
		if len(l.byIP) < maxLimiterIPs {
			break
		}
		delete(l.byIP, ip)
	}
}

// checkPassword runs the password check when a slot is free (h.hashing),
// waiting at most h.loginWait; errBusy when none came free.
func (h *Handler) checkPassword(r *http.Request, user, pass string) error {
	t := time.NewTimer(h.loginWait)
	defer t.Stop()
	select {
	case h.hashing <- struct{}{}:
	case <-t.C:
		return errBusy
	case <-r.Context().Done():
		return r.Context().Err()
	}
	n := h.hashingNow.Add(1)
	for m := h.hashingMax.Load(); n > m && !h.hashingMax.CompareAndSwap(m, n); m = h.hashingMax.Load() {
	}
	defer func() {
		h.hashingNow.Add(-1)
		<-h.hashing
	}()
	return h.cfg.Store.CheckPassword(user, pass)
}

var errBusy = errors.New("the relay is busy checking other logins, try again in a moment")

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	var user, pass, next string
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if isJSON {
		var body struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "malformed login request")
			return
		}
		user, pass = body.Username, body.Password
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "malformed login form")
			return
		}
		user, pass, next = r.PostFormValue("username"), r.PostFormValue("password"), r.PostFormValue("next")
	}
	if !h.limiter(r).AllowN(h.cfg.Now(), 1) {
		h.Counters.LoginThrottled.Add(1)
		w.Header().Set("Retry-After", "1")
		if isJSON {
			writeError(w, http.StatusTooManyRequests, "too many login attempts, try again in a moment")
		} else {
			http.Redirect(w, r, "/login?error=throttled", http.StatusSeeOther)
		}
		return
	}
	if err := h.checkPassword(r, user, pass); err != nil {
		if errors.Is(err, errBusy) || r.Context().Err() != nil {
			h.Counters.LoginBusy.Add(1)
			w.Header().Set("Retry-After", "2")
			if isJSON {
				writeError(w, http.StatusServiceUnavailable, errBusy.Error())
			} else {
				http.Redirect(w, r, "/login?error=busy", http.StatusSeeOther)
			}
			return
		}
		h.Counters.LoginFailures.Add(1)
		if isJSON {
			writeError(w, http.StatusUnauthorized, "wrong username or password")
		} else {
			http.Redirect(w, r, "/login?error=1", http.StatusSeeOther)
		}
		return
	}
	id, err := h.cfg.Store.NewSession(user, h.cfg.Now(), sessionTTL)
	if err != nil {
		h.log.Warn("login session not stored", "user", user, "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot log in now: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	if isJSON {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

// localPath returns next when it is a path on this relay, "/" otherwise.
// Browsers read a backslash as a slash and drop tabs and newlines from
// URLs, so "/\\evil.example" and "/\t/evil.example" would lead to another
// site ("//evil.example"): neither is allowed anywhere in the path, nor is
// any other control character or space.
func localPath(next string) string {
	if len(next) < 1 || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		if err := h.cfg.Store.EndSession(c.Value); err != nil {
			h.log.Warn("logout not stored", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
