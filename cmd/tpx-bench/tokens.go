package main

import (
	"context"
	"crypto/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
)

// tokenLifetime is how long the run's CI tokens stay valid: longer than any run, so that
// none expires between signing and use.
const tokenLifetime = 2 * time.Hour

// claimsFor are the claims of a GitHub Actions token from a release workflow of r.
func claimsFor(iss *oidctest.Issuer, r repository) map[string]any {
	repo := r.owner + "/" + r.name
	ref := repo + "/.github/workflows/release.yml@refs/heads/main"
	return iss.GitHubClaims(map[string]any{
		"sub":                 "repo:" + repo + ":environment:prod",
		"repository":          repo,
		"repository_owner":    r.owner,
		"repository_id":       r.repoID,
		"repository_owner_id": r.ownerID,
		"workflow_ref":        ref,
		"job_workflow_ref":    ref,
		"exp":                 time.Now().Add(tokenLifetime).Unix(),
	})
}

// body is the exchange route's request body for a token.
func body(tok string) []byte { return []byte(`{"token":"` + tok + `"}`) }

// sign makes n valid tokens, the i-th for repo(i), on every core; RSA signing costs about a
// millisecond, so none of it may happen while something is measured.
func (b *bench) sign(ctx context.Context, n int, repo func(i int) repository) ([][]byte, error) {
	out := make([][]byte, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				out[i] = body(b.iss.Sign(claimsFor(b.iss, repo(i))))
			}
		})
	}
	wg.Wait()
	return out, ctx.Err()
}

// unknownKidTokens are n tokens from the configured issuer, well formed, for our audience,
// each naming a key id the issuer never published; the signature is random bytes, since a
// verifier must refuse them before it looks at one.
func (b *bench) unknownKidTokens(n int) [][]byte {
	out := make([][]byte, n)
	sig := make([]byte, 256)
	for i := range out {
		rand.Read(sig)
		out[i] = body(b.iss.Sign(claimsFor(b.iss, b.baseRepoFor(i)), oidctest.WithKid(rand.Text()), oidctest.WithSignature(sig)))
	}
	return out
}
