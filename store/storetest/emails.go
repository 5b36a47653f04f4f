package storetest

import (
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// emailTests hold both backends to the methods of email verification.
func emailTests() []test {
	return []test{
		{"An email token verifies the address once, and not after it expired", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			verified, err := f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if verified {
				t.Fatal("a new user's address is verified")
			}
			must(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "t1", UserID: u.ID, Email: u.Email, ExpiresAt: f.now.Add(time.Hour)}))
			must(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "t2", UserID: u.ID, Email: u.Email, ExpiresAt: f.now.Add(time.Hour)}))
			_, err = f.st.UseEmailToken(f.ctx, "t2", f.now.Add(time.Hour))
			wantErr(t, err, store.ErrNotFound)
			verified, err = f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if verified {
				t.Fatal("an expired token verified the address")
			}
			peeked, err := f.st.PeekEmailToken(f.ctx, "t1", f.now)
			must(t, err)
			equal(t, "peeked", peeked, store.EmailToken{Hash: "t1", UserID: u.ID, Email: u.Email, ExpiresAt: f.now.Add(time.Hour)})
			_, err = f.st.PeekEmailToken(f.ctx, "t1", f.now.Add(time.Hour))
			wantErr(t, err, store.ErrNotFound)
			verified, err = f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if verified {
				t.Fatal("peeking at a token verified the address")
			}
			id, err := f.st.UseEmailToken(f.ctx, "t1", f.now)
			must(t, err)
			equal(t, "user", id, u.ID)
			_, err = f.st.PeekEmailToken(f.ctx, "t1", f.now)
			wantErr(t, err, store.ErrNotFound)
			verified, err = f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if !verified {
				t.Fatal("the address is not verified")
			}
			_, err = f.st.UseEmailToken(f.ctx, "t1", f.now)
			wantErr(t, err, store.ErrNotFound)
			wantErr(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "t3", UserID: 424242, Email: "x@example.com", ExpiresAt: f.now}), store.ErrNotFound)
			_, err = f.st.EmailVerified(f.ctx, 424242)
			wantErr(t, err, store.ErrNotFound)
		}},
	}
}
