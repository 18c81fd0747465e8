// Package store keeps the relay's data directory: users with argon2id
// password hashes (RFC 9106), streams with the SHA-256 of their publish keys,
// the viewers' login sessions, and the key that signs viewer tickets. Files
// are JSON, written atomically; changes by another process (the command
// line while the relay runs) are seen at the next call.
package store

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/ticket"
)

// Errors returned by the Store.
var (
	ErrBadCredentials = errors.New("wrong username or password")
	ErrBadPublishKey  = errors.New("wrong publish key")
	ErrNoStream       = errors.New("no such stream")
	ErrExists         = errors.New("already exists")
	ErrBadName        = errors.New("bad name")
	ErrEmptyPassword  = errors.New("empty password")
	ErrShortPassword  = fmt.Errorf("password shorter than %d characters", MinPasswordLen)
	ErrNoUser         = errors.New("no such user")
	ErrNoRoom         = errors.New("no such room")
)

// MinPasswordLen is the shortest password accepted, in characters.
const MinPasswordLen = 8

const (
	usersFile     = "users.json"
	streamsFile   = "streams.json"
	sessionsFile  = "sessions.json"
	roomsFile     = "rooms.json"
	ticketKeyFile = "ticket.key"
	resetKeyFile  = "quic-reset.key"

	// MaxSessions bounds the login sessions kept; expired ones are dropped
	// first.
	MaxSessions = 10000
	// MaxUserSessions bounds one user's login sessions (browsers and
	// devices): a new login beyond it ends that user's oldest session, so
	// that one account cannot fill the table and lock everyone else out.
	MaxUserSessions = 16
)

// ErrTooManySessions refuses a login when MaxSessions live sessions exist.
var ErrTooManySessions = errors.New("too many login sessions")

// session is one login, stored under the SHA-256 of its cookie so that the
// file does not hold usable cookies.
type session struct {
	User    string `json:"user"`
	Expires int64  `json:"expires"` // unix seconds
	// Pw ties the session to the password it was opened with: changing
	// the password or removing the user ends it.
	Pw string `json:"pw"`
}

// Store is the relay's data directory. It is safe for concurrent use within
// one process.
type Store struct {
	dir       string
	ticketKey []byte
	resetKey  []byte
	dummy     string // hash checked for unknown users, so they take as long

	mu       sync.Mutex
	users    map[string]string  // name → PHC argon2id hash
	streams  map[string]string  // name → base64 SHA-256 of the publish key
	sessions map[string]session // base64 SHA-256 of the cookie → session
	rooms    map[string]string  // name → when it was made, RFC 3339
	seen     [4]fileVersion     // of usersFile, streamsFile, sessionsFile, roomsFile when last read
}

type fileVersion struct {
	mtime time.Time
	size  int64
}

// Open opens the data directory dir, creating it (mode 0700) and the ticket
// key on first use.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{dir: dir, users: map[string]string{}, streams: map[string]string{}, sessions: map[string]session{}, rooms: map[string]string{}}
	s.mu.Lock()
	err := s.refreshLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if s.ticketKey, err = loadKey(filepath.Join(dir, ticketKeyFile), ticket.KeySize); err != nil {
		return nil, err
	}
	if s.resetKey, err = loadKey(filepath.Join(dir, resetKeyFile), 32); err != nil {
		return nil, err
	}
	s.dummy = hashPassword("not a password", defaultParams)
	return s, nil
}

// loadKey reads a secret of n bytes from path, creating it on first use.
func loadKey(path string, n int) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		key = make([]byte, n)
		rand.Read(key)
		if err := writeFileAtomic(path, key, 0o600); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("store: %w", err)
	case len(key) != n:
		return nil, fmt.Errorf("store: %s: %d bytes, want %d", filepath.Base(path), len(key), n)
	}
	return key, nil
}

// refreshLocked re-reads the files another process (quicast-relay user
// add, stream rekey, …) changed since the last read.
func (s *Store) refreshLocked() error {
	for i, f := range []struct {
		name string
		load func(path string) error
	}{
		{usersFile, func(path string) error { return loadMap(path, &s.users) }},
		{streamsFile, func(path string) error { return loadMap(path, &s.streams) }},
		{sessionsFile, func(path string) error { return loadMap(path, &s.sessions) }},
		{roomsFile, func(path string) error { return loadMap(path, &s.rooms) }},
	} {
		path := filepath.Join(s.dir, f.name)
		fi, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("store: %w", err)
		}
		v := fileVersion{fi.ModTime(), fi.Size()}
		if v == s.seen[i] {
			continue
		}
		if err := f.load(path); err != nil {
			return err
		}
		s.seen[i] = v
	}
	return nil
}

func loadMap[V any](path string, m *map[string]V) error {
	n := map[string]V{}
	if err := readJSON(path, &n); err != nil {
		return err
	}
	if n == nil { // the file holds null: as good as empty
		n = map[string]V{}
	}
	*m = n
	return nil
}

// writeLocked writes one of the files and remembers its version, so that
// the next refresh does not read back what it just wrote.
func (s *Store) writeLocked(name string, v any) error {
	path := filepath.Join(s.dir, name)
	if err := writeJSON(path, v); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		i := map[string]int{usersFile: 0, streamsFile: 1, sessionsFile: 2, roomsFile: 3}[name]
		s.seen[i] = fileVersion{fi.ModTime(), fi.Size()}
	}
	return nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// TicketKey returns the key that signs viewer tickets
// (ticket.KeySize bytes).
func (s *Store) TicketKey() []byte { return s.ticketKey }

// ResetKey returns the 32-byte key the relay derives QUIC stateless reset
// tokens from (RFC 9000 §10.3). Kept across restarts, it lets a restarted
// relay reset the connections of the process before it, so that viewers
// notice at once and reconnect.
func (s *Store) ResetKey() []byte { return s.resetKey }

// AddUser adds a user with an argon2id hash of password.
func (s *Store) AddUser(name, password string) error {
	if err := validUserName(name); err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	h := hashPassword(password, defaultParams)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	if _, ok := s.users[name]; ok {
		return fmt.Errorf("user %q: %w", name, ErrExists)
	}
	return s.putLocked(s.users, usersFile, name, h)
}

func checkPassword(pw string) error {
	switch n := len([]rune(pw)); {
	case n == 0:
		return ErrEmptyPassword
	case n < MinPasswordLen:
		return fmt.Errorf("%w (%d)", ErrShortPassword, n)
	}
	return nil
}

// SetPassword replaces the password of user name; the user's login
// sessions end.
func (s *Store) SetPassword(name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	h := hashPassword(password, defaultParams)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	if _, ok := s.users[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNoUser, name)
	}
	if err := s.putLocked(s.users, usersFile, name, h); err != nil {
		return err
	}
	return s.dropSessionsLocked(name)
}

// RemoveUser removes user name; the user's login sessions end, and a
// running relay closes the user's viewer sessions within a second.
func (s *Store) RemoveUser(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	if err := s.deleteLocked(s.users, usersFile, name, ErrNoUser); err != nil {
		return err
	}
	return s.dropSessionsLocked(name)
}

// UserExists reports whether user name exists.
func (s *Store) UserExists(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	_, ok := s.users[name]
	return ok
}

// CheckPassword returns nil when password is the user's, ErrBadCredentials
// otherwise — also for an unknown user, after the same amount of work.
func (s *Store) CheckPassword(name, password string) error {
	s.mu.Lock()
	_ = s.refreshLocked() // on error keep serving what was read before
	h, ok := s.users[name]
	s.mu.Unlock()
	if !ok {
		h = s.dummy
	}
	match, err := verifyPassword(h, password)
	if err != nil || !match || !ok {
		return ErrBadCredentials
	}
	return nil
}

// Users returns the user names, sorted.
func (s *Store) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	return sortedKeys(s.users)
}

// AddStream creates a stream and returns its publish key (43 base64url
// characters, 256 bits), which is shown only now: the store keeps its hash.
func (s *Store) AddStream(name string) (string, error) {
	if err := protocol.ValidStreamName(name); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadName, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return "", err
	}
	if _, ok := s.streams[name]; ok {
		return "", fmt.Errorf("stream %q: %w", name, ErrExists)
	}
	return s.setKeyLocked(name)
}

func (s *Store) setKeyLocked(name string) (string, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	key := base64.RawURLEncoding.EncodeToString(raw)
	if err := s.putLocked(s.streams, streamsFile, name, keyHash(key)); err != nil {
		return "", err
	}
	return key, nil
}

// putLocked sets name to v in m, the contents of file, and writes the
// file; if the write fails, m is left as it was.
func (s *Store) putLocked(m map[string]string, file, name, v string) error {
	old, had := m[name]
	m[name] = v
	if err := s.writeLocked(file, m); err != nil {
		if had {
			m[name] = old
		} else {
			delete(m, name)
		}
		return err
	}
	return nil
}

// deleteLocked removes name from m, the contents of file, and writes the
// file; missing is the error when there is no such name.
func (s *Store) deleteLocked(m map[string]string, file, name string, missing error) error {
	old, ok := m[name]
	if !ok {
		return fmt.Errorf("%w: %q", missing, name)
	}
	delete(m, name)
	if err := s.writeLocked(file, m); err != nil {
		m[name] = old
		return err
	}
	return nil
}

// Rekey gives stream name a new publish key and returns it; the old key
// stops working, and a running relay ends a sender that used it within a
// second.
func (s *Store) Rekey(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return "", err
	}
	if _, ok := s.streams[name]; !ok {
		return "", fmt.Errorf("%w: %q", ErrNoStream, name)
	}
	return s.setKeyLocked(name)
}

// RemoveStream removes stream name; a running relay ends its sender and
// viewers within a second.
func (s *Store) RemoveStream(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	return s.deleteLocked(s.streams, streamsFile, name, ErrNoStream)
}

// CheckPublishKey returns the ID of the key when key publishes stream,
// ErrNoStream or ErrBadPublishKey otherwise. The ID changes when the key
// does (StreamKey).
func (s *Store) CheckPublishKey(stream, key string) (keyID string, err error) {
	s.mu.Lock()
	_ = s.refreshLocked()
	h, ok := s.streams[stream]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNoStream, stream)
	}
	if subtle.ConstantTimeCompare([]byte(h), []byte(keyHash(key))) != 1 {
		return "", ErrBadPublishKey
	}
	return h, nil
}

// StreamKey returns the ID of stream's current publish key; ok is false
// when there is no such stream. A room participant's stream (ROOM.USER)
// exists while the room and the user do; its key ID is RoomKeyID(user).
func (s *Store) StreamKey(stream string) (keyID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	if room, user, err := protocol.SplitRoomStream(stream); err == nil {
		return RoomKeyID(user), s.roomStreamLocked(room, user)
	}
	h, ok := s.streams[stream]
	return h, ok
}

// RoomKeyID is the key ID of user's streams in rooms: they publish with
// their login (protocol.RoomJoin), not with a stored key.
func RoomKeyID(user string) string { return "room-user:" + user }

// HasStream reports whether a stream exists, a room participant's
// included.
func (s *Store) HasStream(name string) bool {
	_, ok := s.StreamKey(name)
	return ok
}

func (s *Store) roomStreamLocked(room, user string) bool {
	_, hasRoom := s.rooms[room]
	_, hasUser := s.users[user]
	return hasRoom && hasUser
}

// AddRoom creates a room: every logged-in user may join it.
func (s *Store) AddRoom(name string) error {
	if err := protocol.ValidStreamName(name); err != nil {
		return fmt.Errorf("%w: room %q (want 1-64 of A-Z a-z 0-9 _ -)", ErrBadName, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	if _, ok := s.rooms[name]; ok {
		return fmt.Errorf("room %q: %w", name, ErrExists)
	}
	return s.putLocked(s.rooms, roomsFile, name, time.Now().UTC().Format(time.RFC3339))
}

// RemoveRoom removes room name; a running relay ends its participants'
// sessions within a second.
func (s *Store) RemoveRoom(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	return s.deleteLocked(s.rooms, roomsFile, name, ErrNoRoom)
}

// HasRoom reports whether room name exists.
func (s *Store) HasRoom(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	_, ok := s.rooms[name]
	return ok
}

// Rooms returns the room names, sorted.
func (s *Store) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	return sortedKeys(s.rooms)
}

// Streams returns the stream names, sorted.
func (s *Store) Streams() []string {
	s.mu.Lock()
	_ = s.refreshLocked()
	defer s.mu.Unlock()
	return sortedKeys(s.streams)
}

// NewSession opens a login session for user until now+ttl and returns its
// cookie value (43 base64url characters, 256 bits). The session is kept in
// the data directory, so it survives a restart of the relay.
func (s *Store) NewSession(user string, now time.Time, ttl time.Duration) (string, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := base64.RawURLEncoding.EncodeToString(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return "", err
	}
	h, ok := s.users[user]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNoUser, user)
	}
	s.pruneLocked(now)
	s.evictOldestLocked(user, MaxUserSessions-1)
	if len(s.sessions) >= MaxSessions {
		return "", ErrTooManySessions
	}
	id := keyHash(tok)
	s.sessions[id] = session{User: user, Expires: now.Add(ttl).Unix(), Pw: pwTag(h)}
	if err := s.writeLocked(sessionsFile, s.sessions); err != nil {
		delete(s.sessions, id)
		return "", err
	}
	return tok, nil
}

// SessionUser returns the user of the login session with cookie value tok,
// or false when there is none, it expired, its user was removed or changed
// password.
func (s *Store) SessionUser(tok string, now time.Time) (string, bool) {
	if tok == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	ss, ok := s.sessions[keyHash(tok)]
	if !ok || now.Unix() >= ss.Expires {
		return "", false
	}
	h, ok := s.users[ss.User]
	if !ok || subtle.ConstantTimeCompare([]byte(pwTag(h)), []byte(ss.Pw)) != 1 {
		return "", false
	}
	return ss.User, true
}

// SessionID is the reference to the login session with cookie value tok
// that tickets carry (the key it is stored under; not the cookie).
func SessionID(tok string) string { return keyHash(tok) }

// SessionActive reports whether the login session id (SessionID) is
// user's and still valid at now: not ended, expired, nor ended by the
// user's removal or a new password.
func (s *Store) SessionActive(id, user string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	ss, ok := s.sessions[id]
	if !ok || ss.User != user || now.Unix() >= ss.Expires {
		return false
	}
	h, ok := s.users[user]
	return ok && subtle.ConstantTimeCompare([]byte(pwTag(h)), []byte(ss.Pw)) == 1
}

// EndSession ends the login session with cookie value tok (log out).
func (s *Store) EndSession(tok string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	id := keyHash(tok)
	if _, ok := s.sessions[id]; !ok {
		return nil
	}
	delete(s.sessions, id)
	return s.writeLocked(sessionsFile, s.sessions)
}

func (s *Store) dropSessionsLocked(user string) error {
	n := len(s.sessions)
	for k, ss := range s.sessions {
		if ss.User == user {
			delete(s.sessions, k)
		}
	}
	if len(s.sessions) == n {
		return nil
	}
	return s.writeLocked(sessionsFile, s.sessions)
}

// evictOldestLocked ends user's sessions that expire first until at most
// keep are left.
func (s *Store) evictOldestLocked(user string, keep int) {
	var ids []string
	for k, ss := range s.sessions {
		if ss.User == user {
			ids = append(ids, k)
		}
	}
	if len(ids) <= keep {
		return
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(s.sessions[a].Expires, s.sessions[b].Expires) })
	for _, k := range ids[:len(ids)-keep] {
		delete(s.sessions, k)
	}
}

func (s *Store) pruneLocked(now time.Time) {
	for k, ss := range s.sessions {
		if now.Unix() >= ss.Expires {
			delete(s.sessions, k)
		}
	}
}

// pwTag is a short digest of a password hash: sessions carry it so that a
// new password ends them, without the file holding the hash itself.
func pwTag(phc string) string {
	h := sha256.Sum256([]byte(phc))
	return base64.RawStdEncoding.EncodeToString(h[:12])
}

func keyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return base64.RawStdEncoding.EncodeToString(h[:])
}

func validUserName(name string) error {
	// The same alphabet as stream names keeps names safe in logs and URLs.
	if err := protocol.ValidStreamName(name); err != nil {
		return fmt.Errorf("%w: user %q (want 1-64 of A-Z a-z 0-9 _ -)", ErrBadName, name)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// WriteFileAtomic writes data to path through a temporary file and a rename,
// so a reader never sees a half-written file.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomic(path, data, mode)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	return nil
}
