package player

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// forbidden are packages that must stay out of the viewer's WebAssembly:
// each costs tens to hundreds of KB gzipped (measured: fmt 144 KB,
// encoding/json with fmt 333 KB, crypto/rand 86 KB, net/url 87 KB), paid in
// download and compile time before the first frame. The viewer speaks
// binary control messages, parses RTP itself and escapes URLs through the
// browser.
var forbidden = []string{"fmt", "encoding/json", "net/url", "net/http", "crypto/rand", "math/big", "github.com/pion/"}

func TestViewerLinksNoForbiddenPackage(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "github.com/quicast/quicast/viewer-wasm/cmd/player")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list gave %d packages: %s", len(deps), out)
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasSuffix(f, "/") && strings.HasPrefix(d, f) {
				t.Errorf("the viewer's WebAssembly links %s (forbidden: %s); see `GOOS=js GOARCH=wasm go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./viewer-wasm/cmd/player`", d, f)
			}
		}
	}
}
