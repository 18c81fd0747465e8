package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

func (h *Handler) page(name string, needLogin bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if needLogin && h.user(r) == "" {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		// HasStream knows a room participant's stream (ROOM.USER) too.
		if s := r.PathValue("stream"); s != "" && !h.cfg.Store.HasStream(s) {
			h.notFound(w, r)
			return
		}
		if room := r.PathValue("room"); room != "" && !h.cfg.Store.HasRoom(room) {
			h.notFound(w, r)
			return
		}
		b, err := fs.ReadFile(h.cfg.Assets, name)
		if err != nil {
			notBuilt(w)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	}
}

// notFound answers 404 with the styled page, or JSON under /api/.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, http.StatusNotFound, "no such API: "+r.URL.Path)
		return
	}
	b, err := fs.ReadFile(h.cfg.Assets, "404.html")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	w.Write(b)
}

func notBuilt(w http.ResponseWriter) {
	http.Error(w, "viewer not built: run make", http.StatusServiceUnavailable)
}

var contentTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".wasm": "application/wasm", ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
}

// static serves static/…; main.wasm comes from the precompressed
// main.wasm.gz. Every file carries an ETag and "no-cache": a browser asks
// again each time, and gets 304 while nothing changed, so a returning
// viewer's player (and the compiled WebAssembly the browser keeps with it)
// is reused.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	ext := name[strings.LastIndexByte(name, '.')+1:]
	if ct, ok := contentTypes["."+ext]; ok {
		w.Header().Set("Content-Type", ct)
	}
	file := name
	if ext == "wasm" {
		file = name + ".gz"
	}
	b, err := fs.ReadFile(h.cfg.Assets, file)
	if err != nil {
		if ext == "wasm" || strings.HasSuffix(name, "wasm_exec.js") {
			notBuilt(w)
			return
		}
		http.NotFound(w, r)
		return
	}
	etag := h.etag(file, b)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if ext == "wasm" {
		w.Header().Set("Vary", "Accept-Encoding")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if ext != "wasm" {
		w.Write(b)
		return
	}
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(b)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		http.Error(w, "corrupt viewer build", http.StatusInternalServerError)
		return
	}
	io.Copy(w, zr)
}

// etag is a strong validator of an embedded asset: its SHA-256, computed
// once.
func (h *Handler) etag(name string, b []byte) string {
	if v, ok := h.etags.Load(name); ok {
		return v.(string)
	}
	sum := sha256.Sum256(b)
	e := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	h.etags.Store(name, e)
	return e
}
