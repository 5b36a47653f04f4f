package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/token"
)

// tokenOf is the CI token in an exchange request body.
func tokenOf(body []byte) string {
	return strings.TrimSuffix(strings.TrimPrefix(string(body), `{"token":"`), `"}`)
}

// cryptoFloors measures the two signatures an exchange cannot do without, with nothing
// around them: an RS256 verification of a real CI token (SHA-256 of its signing input and
// the RSA-2048 check) and an ES256 signature of an upload token's signing input (SHA-256
// and a P-256 signature), each on every core, per second of CPU time.
func (b *bench) cryptoFloors(ctx context.Context) error {
	raw := tokenOf(b.tokens[0])
	dot := strings.LastIndexByte(raw, '.')
	input := []byte(raw[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
	if err != nil {
		return err
	}
	pub := b.iss.PublicKey()
	verify, err := cpuLoop(ctx, b.sizes.cryptoFor, func() error {
		h := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
	})
	if err != nil {
		return err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(sampleUploadClaims())
	if err != nil {
		return err
	}
	signingInput := []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"0123456789abcdef0123456789abcdef0123456789a","typ":"tpx-upload+jwt"}`)) +
		"." + base64.RawURLEncoding.EncodeToString(payload))
	sign, err := cpuLoop(ctx, b.sizes.cryptoFor, func() error {
		h := sha256.Sum256(signingInput)
		_, _, err := ecdsa.Sign(rand.Reader, key, h[:])
		return err
	})
	if err != nil {
		return err
	}
	b.res.verify, b.res.sign = verify, sign
	return nil
}

// sampleUploadClaims are the claims of a typical upload token, as an exchange fills them.
func sampleUploadClaims() token.Claims {
	now := time.Now().Truncate(time.Second)
	return token.Claims{
		Issuer: publicURL, Audience: token.Audience, Subject: "github:bench-org/repo-0000001",
		Projects:  []string{"bench-0000001"},
		Publisher: token.Publisher{ID: 1, Kind: "github", Repository: "bench-org/repo-0000001", Workflow: "release.yml", Environment: "prod"},
		Ref:       "refs/heads/main", SHA: "d4c3b2a1e5f60718293a4b5c6d7e8f9012345678", RunID: "8675309", RunAttempt: "2",
		Event: "push", Environment: "prod",
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(15 * time.Minute), ID: "Zm9vYmFyYmF6cXV4cXV1eA",
	}
}

// cpuLoop runs op on every core for about d and returns the count with the CPU time it took.
func cpuLoop(ctx context.Context, d time.Duration, op func() error) (runResult, error) {
	c := runtime.GOMAXPROCS(0)
	counts := make([]int, c)
	errs := make([]error, c)
	done := make(chan struct{})
	m := startMeasure()
	end := m.t0.Add(d)
	for w := range c {
		go func() {
			defer func() { done <- struct{}{} }()
			for time.Now().Before(end) && ctx.Err() == nil {
				if err := op(); err != nil {
					errs[w] = err
					return
				}
				counts[w]++
			}
		}()
	}
	for range c {
		<-done
	}
	r := m.stop()
	for _, n := range counts {
		r.n += n
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	return r, ctx.Err()
}
