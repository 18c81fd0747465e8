// Package web embeds the viewer's pages and static files: the login page,
// the stream list, the watch page, and the Go/WebAssembly player built by
// `make wasm` (static/main.wasm.gz, static/wasm_exec.js).
package web

import (
	"embed"
	"io/fs"
)

//go:embed *.html all:static
var files embed.FS

// Assets returns the viewer files: login.html, index.html, watch.html at the
// root and static/… below.
func Assets() fs.FS { return files }
