package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// staticFiles serves the UI's stylesheet and script: files only, never a listing of a
// directory, cached by browsers for an hour and revalidated by their content's ETag.
type staticFiles struct {
	files map[string]staticFile
}

type staticFile struct {
	body []byte
	etag string
}

// staticMaxAge is how long browsers keep the files without asking: an upgrade's new
// stylesheet is seen within that time, and the ETag makes asking cheap.
const staticMaxAge = time.Hour

func newStaticFiles() (*staticFiles, error) {
	sf := &staticFiles{files: map[string]staticFile{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(staticFS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		sf.files[strings.TrimPrefix(p, "static/")] = staticFile{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return sf, err
}

func (sf *staticFiles) serve(c echo.Context) error {
	f, ok := sf.files[path.Clean(c.Param("*"))]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(staticMaxAge.Seconds())))
	h.Set("ETag", f.etag)
	http.ServeContent(c.Response(), c.Request(), c.Param("*"), time.Time{}, bytes.NewReader(f.body))
	return nil
}

// loopbackHost reports whether host is localhost or a loopback address, which browsers
// treat as secure contexts even over plain http.
func loopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// routeError answers a page route that does not exist (404) or does not take the method
// (405) with an HTML page, as browsers expect.
func (h *ui) routeError(c echo.Context, code int) {
	err := h.headers(func(c echo.Context) error {
		r := &uiReq{}
		r.nonce, _ = c.Get("nonce").(string)
		if code == http.StatusMethodNotAllowed {
			return h.message(c, r, code, "Not allowed", "This page does not take that kind of request.", "/")
		}
		return h.message(c, r, code, "Page not found", "There is no page at this address.", "/")
	})(c)
	if err != nil {
		h.s.log(c).Error("error page not rendered", "error", err)
	}
}
