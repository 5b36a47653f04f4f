package oidctest

import (
	"crypto/rand"
	"net/http"
	"sync"
)

// actionsPath is where the issuer serves GitHub Actions' ID-token requests.
const actionsPath = "/_actions/id-token"

// Actions is a GitHub Actions job's token endpoint on an issuer: what a runner gives a job
// with `permissions: id-token: write` as ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN. A GET with the request token as bearer and an audience
// parameter answers {"value": "<JWT>"}: GitHubClaims with that audience and the job's
// overrides, signed by the issuer. Clients that fetch tokens themselves (the npm CLI)
// run unmodified against it.
type Actions struct {
	i            *Issuer
	RequestToken string

	mu        sync.Mutex
	overrides map[string]any
	served    []string
}

// Actions serves the token endpoint of a job whose tokens carry overrides.
func (i *Issuer) Actions(overrides map[string]any) *Actions {
	a := &Actions{i: i, RequestToken: rand.Text(), overrides: overrides}
	i.mu.Lock()
	i.actions = a
	i.mu.Unlock()
	return a
}

// URL is ACTIONS_ID_TOKEN_REQUEST_URL; the runner's has a query, to which clients append
// "&audience=…", so this one has one too.
func (a *Actions) URL() string { return a.i.URL() + actionsPath + "?api-version=2.0" }

// SetOverrides changes the claims of the tokens served from now on: another repository,
// another workflow.
func (a *Actions) SetOverrides(overrides map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.overrides = overrides
}

// Served returns the tokens served so far, oldest first.
func (a *Actions) Served() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.served...)
}

func (a *Actions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.RequestToken {
		http.Error(w, `{"message": "bad request token"}`, http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	claims := map[string]any{}
	for k, v := range a.overrides {
		claims[k] = v
	}
	if aud := r.URL.Query().Get("audience"); aud != "" {
		claims["aud"] = aud
	}
	tok := a.i.Sign(a.i.GitHubClaims(claims))
	a.served = append(a.served, tok)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(mustJSON(map[string]any{"count": len(tok), "value": tok}))
}
