package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

func tokenTests() []test {
	return []test{
		{"A revoked upload token keeps its first revocation time", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			e := f.exchange("jti-1", f.publisher(f.project("proj", alice), alice, nil))
			must(t, f.st.CommitExchange(f.ctx, e))
			first := f.now.Add(time.Minute)
			must(t, f.st.RevokeUploadToken(f.ctx, e.TokenID, first))
			must(t, f.st.RevokeUploadToken(f.ctx, e.TokenID, first.Add(time.Minute)))
			tok, err := f.st.UploadToken(f.ctx, e.TokenID)
			must(t, err)
			if tok.RevokedAt == nil || !tok.RevokedAt.Equal(first) {
				t.Fatalf("revoked at %v, want %v", tok.RevokedAt, first)
			}
		}},
		{"An unknown upload token is not found, nor can it be revoked", func(t *testing.T, f *fixture) {
			_, err := f.st.UploadToken(f.ctx, "no-such-token")
			wantErr(t, err, store.ErrNotFound)
			wantErr(t, f.st.RevokeUploadToken(f.ctx, "no-such-token", f.now), store.ErrNotFound)
		}},
	}
}

func signingKey(id string, created time.Time) store.SigningKey {
	return store.SigningKey{
		ID: id, Algorithm: "ES256", Private: []byte("tpxs1:sealed-" + id), PublicJWK: []byte(`{"kty":"EC","kid":"` + id + `"}`),
		CreatedAt: created, ActivateAt: created.Add(time.Hour),
	}
}

func signingKeyTests() []test {
	return []test{
		{"Signing keys are listed oldest first and can be deleted", func(t *testing.T, f *fixture) {
			newer, older := signingKey("k2", f.now), signingKey("k1", f.now.Add(-24*time.Hour))
			for _, k := range []store.SigningKey{older, newer} {
				added, err := f.st.AddSigningKeyUnlessNewer(f.ctx, k, k.CreatedAt.Add(-time.Second))
				must(t, err)
				if !added {
					t.Fatalf("key %s not added", k.ID)
				}
			}
			keys, err := f.st.SigningKeys(f.ctx)
			must(t, err)
			equal(t, "keys", keys, []store.SigningKey{older, newer})
			must(t, f.st.DeleteSigningKey(f.ctx, older.ID))
			wantErr(t, f.st.DeleteSigningKey(f.ctx, older.ID), store.ErrNotFound)
			keys, err = f.st.SigningKeys(f.ctx)
			must(t, err)
			equal(t, "keys left", keys, []store.SigningKey{newer})
		}},
		{"A signing key is not added when a key newer than the bound exists", func(t *testing.T, f *fixture) {
			k := signingKey("k1", f.now)
			added, err := f.st.AddSigningKeyUnlessNewer(f.ctx, k, f.now.Add(-time.Hour))
			must(t, err)
			if !added {
				t.Fatal("first key not added")
			}
			for _, c := range []struct {
				notAfter time.Time
				want     bool
			}{
				{f.now.Add(-time.Second), false},
				{f.now, true},
			} {
				id := fmt.Sprintf("k-%d", c.notAfter.Unix())
				added, err := f.st.AddSigningKeyUnlessNewer(f.ctx, signingKey(id, f.now.Add(time.Second)), c.notAfter)
				must(t, err)
				if added != c.want {
					t.Fatalf("added with a bound of %v: %v, want %v", c.notAfter, added, c.want)
				}
			}
		}},
		{"A signing key with a taken id is a conflict", func(t *testing.T, f *fixture) {
			k := signingKey("k1", f.now)
			_, err := f.st.AddSigningKeyUnlessNewer(f.ctx, k, f.now.Add(-time.Hour))
			must(t, err)
			_, err = f.st.AddSigningKeyUnlessNewer(f.ctx, k, f.now.Add(time.Hour))
			wantErr(t, err, store.ErrConflict)
		}},
		{"Of 10 concurrent rotations exactly one stores its key", func(t *testing.T, f *fixture) {
			added := make([]bool, 10)
			errs := concurrently(len(added), func(i int) error {
				var err error
				added[i], err = f.st.AddSigningKeyUnlessNewer(f.ctx, signingKey(fmt.Sprintf("k%d", i), f.now), f.now.Add(-time.Hour))
				return err
			})
			n := 0
			for i := range added {
				must(t, errs[i])
				if added[i] {
					n++
				}
			}
			equal(t, "keys added", n, 1)
			keys, err := f.st.SigningKeys(f.ctx)
			must(t, err)
			equal(t, "keys stored", len(keys), 1)
		}},
	}
}
