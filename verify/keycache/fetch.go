package keycache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// MaxRedirects is how many same-host redirects SameHostRedirects follows.
const MaxRedirects = 3

// SameHostRedirects is an http.Client CheckRedirect policy for key fetches: an issuer may
// move its documents around its own scheme and host, never to another one, since a
// redirect is a request to an address nobody configured; and at most MaxRedirects times.
func SameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	from := via[0].URL
	if req.URL.Scheme != from.Scheme || !strings.EqualFold(req.URL.Host, from.Host) {
		return fmt.Errorf("redirect from %s://%s to %s://%s refused: not the same host", from.Scheme, from.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// Get fetches url with client and returns the body of a 200 response of at most max
// bytes. A longer body is an error, never a truncated document.
func Get(ctx context.Context, client *http.Client, url string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%s: %d bytes, the limit is %d", url, resp.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes", url, max)
	}
	return body, nil
}

// ParseJWKS returns the keys of a JSON Web Key Set that usable accepts, by key id, and
// how many it skipped. A key without a kid, for another use than signatures, or that does
// not parse, is skipped rather than failing the set, so that an issuer adding a key type
// its verifiers do not know does not cut them off. Two keys sharing a kid are both
// dropped: which one was meant cannot be known. No usable key at all is an error.
func ParseJWKS[K any](body []byte, usable func(jose.JSONWebKey) (K, bool)) (map[string]K, int, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("not a JSON key set: %v", err)
	}
	keys := map[string]K{}
	count := map[string]int{}
	skipped := 0
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil || jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") {
			skipped++
			continue
		}
		k, ok := usable(jwk)
		if !ok {
			skipped++
			continue
		}
		keys[jwk.KeyID] = k
		count[jwk.KeyID]++
	}
	for kid, n := range count {
		if n > 1 {
			delete(keys, kid)
			skipped += n
		}
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("no usable keys among %d", len(set.Keys))
	}
	return keys, skipped, nil
}
