// Package store keeps the relay's data directory: users with argon2id
// password hashes (RFC 9106), streams with the SHA-256 of their publish keys,
// and the key that signs viewer tickets. Files are JSON, written atomically.
package store

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/quicast/quicast/protocol"
)

// Errors returned by the Store.
var (
	ErrBadCredentials = errors.New("wrong username or password")
	ErrBadPublishKey  = errors.New("wrong publish key")
	ErrNoStream       = errors.New("no such stream")
	ErrExists         = errors.New("already exists")
	ErrBadName        = errors.New("bad name")
	ErrEmptyPassword  = errors.New("empty password")
)

const (
	usersFile     = "users.json"
	streamsFile   = "streams.json"
	ticketKeyFile = "ticket.key"
)

// Store is the relay's data directory. It is safe for concurrent use within
// one process.
type Store struct {
	dir       string
	ticketKey []byte
	dummy     string // hash checked for unknown users, so they take as long

	mu      sync.Mutex
	users   map[string]string // name → PHC argon2id hash
	streams map[string]string // name → base64 SHA-256 of the publish key
	mtimes  [2]time.Time      // of usersFile and streamsFile when last read
}

// Open opens the data directory dir, creating it (mode 0700) and the ticket
// key on first use.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{dir: dir, users: map[string]string{}, streams: map[string]string{}}
	s.mu.Lock()
	err := s.refreshLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(dir, ticketKeyFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		key = make([]byte, protocol.TicketKeySize)
		rand.Read(key)
		if err := writeFileAtomic(filepath.Join(dir, ticketKeyFile), key, 0o600); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("store: %w", err)
	case len(key) != protocol.TicketKeySize:
		return nil, fmt.Errorf("store: %s: %d bytes, want %d", ticketKeyFile, len(key), protocol.TicketKeySize)
	}
	s.ticketKey = key
	s.dummy = hashPassword("not a password", defaultParams)
	return s, nil
}

// refreshLocked re-reads the users and streams files when another process
// (quicast-relay user add, stream add) changed them since the last read.
func (s *Store) refreshLocked() error {
	for i, f := range []struct {
		name string
		m    *map[string]string
	}{{usersFile, &s.users}, {streamsFile, &s.streams}} {
		path := filepath.Join(s.dir, f.name)
		fi, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("store: %w", err)
		}
		if fi.ModTime().Equal(s.mtimes[i]) {
			continue
		}
		m := map[string]string{}
		if err := readJSON(path, &m); err != nil {
			return err
		}
		*f.m, s.mtimes[i] = m, fi.ModTime()
	}
	return nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// TicketKey returns the key that signs viewer tickets
// (protocol.TicketKeySize bytes).
func (s *Store) TicketKey() []byte { return s.ticketKey }

// AddUser adds a user with an argon2id hash of password.
func (s *Store) AddUser(name, password string) error {
	if err := validUserName(name); err != nil {
		return err
	}
	if password == "" {
		return ErrEmptyPassword
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
	s.users[name] = h
	if err := writeJSON(filepath.Join(s.dir, usersFile), s.users); err != nil {
		delete(s.users, name)
		return err
	}
	return nil
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
	return sortedKeys(s.users)
}

// AddStream creates a stream and returns its publish key (43 base64url
// characters, 256 bits), which is shown only now: the store keeps its hash.
func (s *Store) AddStream(name string) (string, error) {
	if err := protocol.ValidStreamName(name); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadName, err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	key := base64.RawURLEncoding.EncodeToString(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return "", err
	}
	if _, ok := s.streams[name]; ok {
		return "", fmt.Errorf("stream %q: %w", name, ErrExists)
	}
	s.streams[name] = keyHash(key)
	if err := writeJSON(filepath.Join(s.dir, streamsFile), s.streams); err != nil {
		delete(s.streams, name)
		return "", err
	}
	return key, nil
}

// CheckPublishKey returns nil when key publishes stream, ErrNoStream or
// ErrBadPublishKey otherwise.
func (s *Store) CheckPublishKey(stream, key string) error {
	s.mu.Lock()
	_ = s.refreshLocked()
	h, ok := s.streams[stream]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoStream, stream)
	}
	if subtle.ConstantTimeCompare([]byte(h), []byte(keyHash(key))) != 1 {
		return ErrBadPublishKey
	}
	return nil
}

// HasStream reports whether a stream exists.
func (s *Store) HasStream(name string) bool {
	s.mu.Lock()
	_ = s.refreshLocked()
	defer s.mu.Unlock()
	_, ok := s.streams[name]
	return ok
}

// Streams returns the stream names, sorted.
func (s *Store) Streams() []string {
	s.mu.Lock()
	_ = s.refreshLocked()
	defer s.mu.Unlock()
	return sortedKeys(s.streams)
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
