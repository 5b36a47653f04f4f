package uitest

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Client is a browser without JavaScript. It does not follow redirects, so that tests see
// them; Follow does. Like a browser, it sends Secure cookies to http://localhost and
// http://127.0.0.1, which are secure contexts (net/http/cookiejar would not).
type Client struct {
	t       testing.TB
	base    string
	http    *http.Client
	cookies map[string]*http.Cookie
	// CSRF is the token of the last page that had a form.
	CSRF string
}

// Response is what one request got.
type Response struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

// New returns a Client of the site at base (scheme://host:port).
func New(t testing.TB, base string) *Client {
	return &Client{t: t, base: base, cookies: map[string]*http.Cookie{},
		http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *Client) do(req *http.Request) Response {
	c.t.Helper()
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Location: resp.Header.Get("Location")}
	if m := csrfField.FindStringSubmatch(r.Body); m != nil {
		c.CSRF = html.UnescapeString(m[1])
	}
	return r
}

// Get fetches path.
func (c *Client) Get(path string) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// Post sends form to path with the CSRF token of the last page, unless form has one.
func (c *Client) Post(path string, form url.Values) Response {
	c.t.Helper()
	sent := url.Values{}
	for k, v := range form {
		sent[k] = v
	}
	if _, ok := sent["csrf"]; !ok {
		sent.Set("csrf", c.CSRF)
	}
	return c.PostRaw(path, sent)
}

// PostRaw sends form as it is.
func (c *Client) PostRaw(path string, form url.Values) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// Follow fetches where r redirects to.
func (c *Client) Follow(r Response) Response {
	c.t.Helper()
	if r.Location == "" {
		c.t.Fatalf("expected a redirect, got %d: %.300s", r.Status, r.Body)
	}
	return c.Get(r.Location)
}

// Cookie returns the value of the client's cookie name, or "".
func (c *Client) Cookie(name string) string {
	if ck, ok := c.cookies[name]; ok {
		return ck.Value
	}
	return ""
}

// SetCookie replaces a cookie's value, as an attacker who planted one would.
func (c *Client) SetCookie(name, value string) {
	c.cookies[name] = &http.Cookie{Name: name, Value: value}
}

// DataAttribute returns the unescaped value of the first attribute name="…" in body.
func DataAttribute(body, name string) string {
	m := regexp.MustCompile(regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}
