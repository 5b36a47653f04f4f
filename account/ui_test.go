package account

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

func TestPasswordRules(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ name, user, password string }{
		{"a password on the common list", "alice", "password1234"},
		{"a common word with digits around it", "alice", "123Monkey!!456"},
		{"a password holding the user name", "carmichael", "carmichael rocks 2026"},
		{"a password of few distinct characters", "alice", "abababababab"},
		{"a password of 11 characters", "alice", "elevenchars"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			if _, err := f.s.CreateUser(context.Background(), c.user, c.user+"@example.org", c.password); !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			if _, err := f.store.UserByName(context.Background(), c.user); err == nil {
				t.Fatal("the user was stored")
			}
		})
	}
	t.Run("A few unrelated words are accepted", func(t *testing.T) {
		if _, err := f.s.CreateUser(context.Background(), "alice", "alice@example.org", "plum ferry lantern october"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRecentAuthentication: the gate asks web users for a recent login; operators are
// exempt.
func TestRecentAuthentication(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice", true)
	if _, err := f.s.CreateProject(ctx, ViaOperator, "sampleproject", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		actor Actor
		want  error
	}{
		{"A web user who never authenticated is refused", Actor{UserName: "alice", Via: ViaWeb}, ErrStaleAuthentication},
		{"A web user who authenticated 16 minutes ago is refused", Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now.Add(-16 * time.Minute)}, ErrStaleAuthentication},
		{"A web user who authenticated 14 minutes ago may act", Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now.Add(-14 * time.Minute)}, nil},
		{"A web user who passed a security key a minute ago may act", Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorWebAuthn, AuthenticatedAt: f.now.Add(-time.Minute)}, nil},
		{"A web user whose session passed the password alone is refused, however recent", Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorPassword, AuthenticatedAt: f.now}, ErrStaleAuthentication},
		{"A web user whose session names no factor is refused", Actor{UserName: "alice", Via: ViaWeb, AuthenticatedAt: f.now}, ErrStaleAuthentication},
		{"The operator is not asked", Actor{UserName: "alice", Via: ViaOperator}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.s.authorize(ctx, c.actor)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}
