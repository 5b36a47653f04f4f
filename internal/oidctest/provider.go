package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The issuer is also an OpenID provider for people, as the package index's would be: an
// authorization endpoint that signs in whoever SetLogin names at once and redirects back
// with a code, and a token endpoint that trades the code, once, for a signed ID token.
// What a relying party must check is checked here as a strict provider would: the client
// and its secret, the exact redirect URI, PKCE with S256, and each code used once.

// Login is the person who signs in at the authorization endpoint, and what their ID
// token says.
type Login struct {
	Subject       string
	Email         string
	EmailVerified bool
	// AMR is the amr claim (RFC 8176), left out when empty.
	AMR []string
	// Claims replace or (with Omit) remove claims of the ID token: a wrong nonce, a
	// wrong audience.
	Claims map[string]any
}

// Client is a relying party registered with the provider.
type Client struct {
	ID, Secret  string
	RedirectURI string
}

// code is an authorization code the provider handed out.
type code struct {
	client    Client
	redirect  string
	challenge string
	nonce     string
	login     Login
	expires   time.Time
	used      bool
}

// codeLifetime is how long a code may wait for its exchange, as providers allow.
const codeLifetime = time.Minute

// AuthorizationURL is the provider's authorization endpoint.
func (i *Issuer) AuthorizationURL() string { return i.base + i.path + "/authorize" }

// TokenURL is the provider's token endpoint.
func (i *Issuer) TokenURL() string { return i.base + i.path + "/token" }

// RegisterClient lets c use the authorization and token endpoints.
func (i *Issuer) RegisterClient(c Client) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.clients == nil {
		i.clients = map[string]Client{}
	}
	i.clients[c.ID] = c
}

// SetLogin makes l the person every later authorization request signs in.
func (i *Issuer) SetLogin(l Login) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.login = &l
}

// TokenRequests counts requests to the token endpoint.
func (i *Issuer) TokenRequests() int64 { return i.tokenRequests.Load() }

// authorize signs in the current login and redirects to the client with a code and the
// state it was given. Requests it cannot send back to a registered redirect URI get a
// plain 400, as providers answer them.
func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	i.mu.Lock()
	client, ok := i.clients[q.Get("client_id")]
	login := i.login
	i.mu.Unlock()
	if !ok || q.Get("redirect_uri") != client.RedirectURI {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		params.Set("state", q.Get("state"))
		http.Redirect(w, r, client.RedirectURI+"?"+params.Encode(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		back(url.Values{"error": {"invalid_scope"}, "error_description": {"scope must include openid"}})
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with S256 is required"}})
		return
	case login == nil:
		back(url.Values{"error": {"access_denied"}, "error_description": {"nobody signed in"}})
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	c := base64.RawURLEncoding.EncodeToString(b)
	i.mu.Lock()
	if i.codes == nil {
		i.codes = map[string]*code{}
	}
	i.codes[c] = &code{client: client, redirect: client.RedirectURI, challenge: q.Get("code_challenge"), nonce: q.Get("nonce"),
		login: *login, expires: i.now().Add(codeLifetime)}
	i.mu.Unlock()
	back(url.Values{"code": {c}})
}

// token trades a code for an ID token, once.
func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	i.tokenRequests.Add(1)
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		fail(http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	i.mu.Lock()
	client, known := i.clients[id]
	c := i.codes[r.PostForm.Get("code")]
	var used bool
	if c != nil {
		used, c.used = c.used, true
	}
	i.mu.Unlock()
	switch {
	case !known || subtle.ConstantTimeCompare([]byte(secret), []byte(client.Secret)) != 1:
		fail(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	case r.PostForm.Get("grant_type") != "authorization_code":
		fail(http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	case c == nil || c.client.ID != id:
		fail(http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case used:
		fail(http.StatusBadRequest, "invalid_grant", "the code was used already")
		return
	case i.now().After(c.expires):
		fail(http.StatusBadRequest, "invalid_grant", "the code expired")
		return
	case r.PostForm.Get("redirect_uri") != c.redirect:
		fail(http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		fail(http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	now := i.now().Unix()
	claims := map[string]any{"iss": i.URL(), "sub": c.login.Subject, "aud": id, "iat": now, "exp": now + 300,
		"email": c.login.Email, "email_verified": c.login.EmailVerified}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	if len(c.login.AMR) > 0 {
		claims["amr"] = c.login.AMR
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": base64.RawURLEncoding.EncodeToString(b), "token_type": "Bearer",
		"expires_in": 300, "id_token": i.Sign(apply(claims, c.login.Claims))})
}
