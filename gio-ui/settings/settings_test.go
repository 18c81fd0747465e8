package settings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "quicast")
	if s, err := Load(dir); err != nil || !reflect.DeepEqual(s, Settings{}) {
		t.Fatalf("first run: %+v %v", s, err)
	}
	want := Settings{Relay: "https://relay.example:8443", Stream: "class", Key: "s3cret-key",
		Camera: "device:video0", Size: "1280x720", FPS: 30, BitrateKbps: 1500, Language: "zh", Probes: []string{"10.0.0.1:53"}}
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %+v, %v; want %+v", got, err, want)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, settingsFile))
	if strings.Contains(string(b), want.Key) {
		t.Error("the publish key leaked into settings.json")
	}
	// Clearing the key removes its file.
	want.Key = ""
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFile)); !os.IsNotExist(err) {
		t.Errorf("key file still there: %v", err)
	}
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, settingsFile), []byte("{not json"), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), settingsFile) {
		t.Errorf("corrupt settings: %v, want an error naming the file", err)
	}
}

// One pin per relay; the single pin of earlier versions becomes the pin of
// the saved relay.
func TestPins(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, settingsFile), []byte(`{"relay":"https://a.example:8443","pin":"AB:CD"}`), 0o600)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Pin("https://a.example:8443/"); got != "AB:CD" {
		t.Errorf("migrated pin %q", got)
	}
	s.SetPin("https://B.example:8443", "EF")
	if s.Pin("https://b.example:8443") != "EF" || s.Pin("https://a.example:8443") != "AB:CD" {
		t.Errorf("pins %v", s.Pins)
	}
	if err := Save(dir, s); err != nil {
		t.Fatal(err)
	}
	back, _ := Load(dir)
	if !reflect.DeepEqual(back.Pins, s.Pins) || back.OldPin != "" {
		t.Errorf("after save: %+v", back)
	}
	back.SetPin("https://a.example:8443", "")
	if back.Pin("https://a.example:8443") != "" {
		t.Error("pin not forgotten")
	}
}
