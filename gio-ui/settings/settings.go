// Package settings keeps what the desktop window remembers between runs,
// in the user's config directory: settings.json for the plain fields and
// publish-key, mode 0600, for the secret.
package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Settings are the window's remembered fields. The zero value means the
// defaults.
type Settings struct {
	Relay  string `json:"relay,omitempty"`  // https://HOST:PORT
	Stream string `json:"stream,omitempty"` // stream name on the relay
	CAFile string `json:"caFile,omitempty"` // trust the relay by this CA (PEM), before any pin
	// Pins are the SHA-256 fingerprints trusted per relay URL: of the
	// relay's CA, which outlives its leaf certificates.
	Pins        map[string]string `json:"pins,omitempty"`
	OldPin      string            `json:"pin,omitempty"` // of earlier versions: one pin for Relay; Load moves it to Pins
	Camera      string            `json:"camera,omitempty"`
	Microphone  string            `json:"microphone,omitempty"`
	Size        string            `json:"size,omitempty"` // WxH
	FPS         int               `json:"fps,omitempty"`
	BitrateKbps int               `json:"bitrateKbps,omitempty"`
	Language    string            `json:"language,omitempty"` // "en", "zh"; "" follows the system
	Probes      []string          `json:"probes,omitempty"`   // host:port to test the internet with
	HidePreview bool              `json:"hidePreview,omitempty"`
	Mode        string            `json:"mode,omitempty"`     // "broadcast" (default) or "call"
	Room        string            `json:"room,omitempty"`     // in a call: the relay's room (quicast-relay room add)
	CallUser    string            `json:"callUser,omitempty"` // in a call: this side's account on the relay
	CallVia     string            `json:"callVia,omitempty"`  // "relay" (default) or "direct": a direct call on a LAN
	PeerAddr    string            `json:"peerAddr,omitempty"` // a direct call's other side, HOST[:PORT]
	RingMe      bool              `json:"ringMe,omitempty"`   // wait for calls to CallUser on Relay

	Key string `json:"-"` // the publish key, kept apart
}

// Pin returns the pin saved for relay (an https:// URL), or "".
func (s Settings) Pin(relay string) string { return s.Pins[normRelay(relay)] }

// SetPin saves pin for relay; "" forgets it.
func (s *Settings) SetPin(relay, pin string) {
	if pin == "" {
		delete(s.Pins, normRelay(relay))
		return
	}
	if s.Pins == nil {
		s.Pins = map[string]string{}
	}
	s.Pins[normRelay(relay)] = pin
}

func normRelay(u string) string { return strings.ToLower(strings.TrimRight(strings.TrimSpace(u), "/")) }

const (
	settingsFile = "settings.json"
	keyFile      = "publish-key"
)

// Dir returns the default directory, $XDG_CONFIG_HOME/quicast or the OS's
// equivalent.
func Dir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "quicast"), nil
}

// Load reads the settings in dir. Missing files give the zero value; an
// unreadable or corrupt file is an error that names it.
func Load(dir string) (Settings, error) {
	var s Settings
	b, err := os.ReadFile(filepath.Join(dir, settingsFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return s, err
	default:
		if err := json.Unmarshal(b, &s); err != nil {
			return Settings{}, fmt.Errorf("%s: %w", filepath.Join(dir, settingsFile), err)
		}
		if s.OldPin != "" && s.Relay != "" {
			s.SetPin(s.Relay, s.OldPin)
		}
		s.OldPin = ""
	}
	k, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	s.Key = strings.TrimSpace(string(k))
	return s, nil
}

// Save writes the settings to dir atomically; the publish key goes to its
// own file with mode 0600.
func Save(dir string, s Settings) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := writeAtomic(filepath.Join(dir, settingsFile), append(b, '\n'), 0o600); err != nil {
		return err
	}
	if s.Key == "" {
		err := os.Remove(filepath.Join(dir, keyFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return writeAtomic(filepath.Join(dir, keyFile), []byte(s.Key+"\n"), 0o600)
}

// writeAtomic replaces path with data so that a crash leaves the old file or
// the new one, never half of one.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
