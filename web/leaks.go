package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/token"
	"github.com/tpx-dev/tpx/verify"
	"github.com/tpx-dev/tpx/verify/keycache"
)

// GitHubSecretScanningKeys is where GitHub publishes the keys that sign its secret-scanning
// partner alerts: the default of TPX_SECRET_SCANNING_KEYS_URL.
const GitHubSecretScanningKeys = "https://api.github.com/meta/public_keys/secret_scanning"

// Bounds of a leak report: GitHub batches matches, but a batch of upload tokens is small.
const (
	maxLeakBody    = 1 << 20
	maxLeakMatches = 1000
	maxLeakKeyBody = 256 << 10
)

// SecretScanningConfig wires POST /v1/secret-scanning/github, where GitHub's secret-scanning
// partner programme reports upload tokens found in public repositories, gists and
// packages. Config.SecretScanning nil serves no such route.
type SecretScanningConfig struct {
	Accounts *account.Service
	// KeysURL publishes the keys that sign the reports (GitHubSecretScanningKeys), fetched
	// with HTTPClient and cached: an unknown key id refetches at most once a minute.
	KeysURL    string
	HTTPClient *http.Client
}

type secretScanning struct {
	s    *server
	cfg  SecretScanningConfig
	keys *keycache.Cache[*ecdsa.PublicKey]
}

func registerSecretScanning(e *echo.Echo, s *server, cfg SecretScanningConfig) error {
	client := http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = keycache.SameHostRedirects
	keys, err := keycache.New(keycache.Config[*ecdsa.PublicKey]{
		Now: s.cfg.Now,
		Fetch: func(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
			body, err := keycache.Get(ctx, &client, cfg.KeysURL, maxLeakKeyBody)
			if err != nil {
				return nil, err
			}
			return parseScanningKeys(body)
		},
	})
	if err != nil {
		return err
	}
	ss := &secretScanning{s: s, cfg: cfg, keys: keys}
	e.POST("/v1/secret-scanning/github", ss.github)
	return nil
}

// parseScanningKeys reads GitHub's key list, {"public_keys": [{"key_identifier", "key"}]}
// with PEM keys, keeping the P-256 ECDSA ones: the reports are signed with
// ECDSA-NIST-P256V1-SHA256.
func parseScanningKeys(body []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc struct {
		PublicKeys []struct {
			ID  string `json:"key_identifier"`
			Key string `json:"key"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("secret-scanning keys: not JSON: %v", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range doc.PublicKeys {
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil || k.ID == "" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if ec, ok := pub.(*ecdsa.PublicKey); err == nil && ok && ec.Curve == elliptic.P256() {
			keys[k.ID] = ec
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("secret-scanning keys: no P-256 key")
	}
	return keys, nil
}

// leakLabel is one entry of the reply GitHub's partner programme reads: whether each
// reported match was a real credential. The token is named by its SHA-256, never echoed.
type leakLabel struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// github takes a partner alert: a JSON array of matches {token, type, url, source},
// signed over the raw body with the key GITHUB-PUBLIC-KEY-IDENTIFIER names
// (GITHUB-PUBLIC-KEY-SIGNATURE, base64 ASN.1 ECDSA over SHA-256). A report whose signature
// does not verify changes nothing. Each match that is a live upload token of this service
// is revoked at once, audited and its projects' owners mailed.
func (ss *secretScanning) github(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxLeakBody+1))
	if err != nil || len(body) > maxLeakBody {
		return ss.s.reply(c, http.StatusRequestEntityTooLarge, "invalid-payload", "the report could not be read or is larger than 1 MiB")
	}
	kid := c.Request().Header.Get("Github-Public-Key-Identifier")
	sig, err := base64.StdEncoding.DecodeString(c.Request().Header.Get("Github-Public-Key-Signature"))
	if kid == "" || err != nil || len(sig) == 0 {
		return ss.s.reply(c, http.StatusUnauthorized, "unauthorized", "a report needs the headers GITHUB-PUBLIC-KEY-IDENTIFIER and GITHUB-PUBLIC-KEY-SIGNATURE")
	}
	key, err := ss.keys.Key(c.Request().Context(), kid)
	switch {
	case errors.Is(err, keycache.ErrUnknownKey) && !errors.Is(err, keycache.ErrUnavailable):
		return ss.s.reply(c, http.StatusUnauthorized, "unauthorized", "the report is signed with a key GitHub does not publish")
	case err != nil:
		ss.s.log(c).Warn("secret-scanning keys unavailable", "error", err)
		return ss.s.reply(c, http.StatusServiceUnavailable, "unavailable", "the keys that sign reports cannot be fetched right now; try again")
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return ss.s.reply(c, http.StatusUnauthorized, "unauthorized", "the report's signature does not verify")
	}
	var matches []struct {
		Token  string `json:"token"`
		Type   string `json:"type"`
		URL    string `json:"url"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(body, &matches); err != nil || len(matches) > maxLeakMatches {
		return ss.s.reply(c, http.StatusUnprocessableEntity, "invalid-payload", fmt.Sprintf("a report is a JSON array of at most %d matches {token, type, url, source}", maxLeakMatches))
	}
	out := make([]leakLabel, 0, len(matches))
	for _, m := range matches {
		sum := sha256.Sum256([]byte(m.Token))
		label := leakLabel{TokenHash: hex.EncodeToString(sum[:]), TokenType: m.Type, Label: "false_positive"}
		ours, err := ss.s.leaked(c, ss.cfg.Accounts, m.Token, "github-secret-scanning", m.URL)
		if err != nil {
			return ss.s.replyError(c, err)
		}
		if ours {
			label.Label = "true_positive"
		}
		out = append(out, label)
	}
	return c.JSON(http.StatusOK, out)
}

// leaked acts on one reported string: if it is an upload token this service minted, it is
// revoked, audited and its owners told (account.TokenLeaked), and ours is true, also for
// a token that has expired already (genuine, and harmless now). Anything else is not ours.
func (s *server) leaked(c echo.Context, acc *account.Service, raw, reporter, where string) (ours bool, err error) {
	if !strings.HasPrefix(raw, token.Prefix) || len(raw) > verify.MaxTokenBytes {
		return false, nil
	}
	claims, err := s.cfg.Minter.Parse(raw)
	switch {
	case errors.Is(err, verify.ErrExpired):
		s.log(c).Info("a leaked upload token was reported after it expired", "reporter", reporter)
		return true, nil
	case err != nil:
		return false, nil
	}
	return true, acc.TokenLeaked(c.Request().Context(), claims, reporter, where)
}

// reportLeak is the index's route to report a leaked upload token (POST
// /v1/tokens/leaked, with an admin API key): {"token": "tpx_…", "where": "<URL>"} answers
// {"revoked": true} when it was a token of this service (now revoked), false otherwise.
func (a *admin) reportLeak(c echo.Context) error {
	var req struct {
		Token string `json:"token"`
		Where string `json:"where"`
	}
	if handled, err := a.decode(c, &req); handled {
		return err
	}
	if req.Token == "" {
		return a.fail(c, http.StatusUnprocessableEntity, "invalid-field", "token", "token is required: the leaked upload token")
	}
	ours, err := a.s.leaked(c, a.cfg.Accounts, req.Token, "admin-api", req.Where)
	if err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusOK, map[string]bool{"revoked": ours})
}
