package account

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/sqlitetest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/sqlite"
)

// fixture is an account Service on a real embedded store with a settable clock.
type fixture struct {
	s     *Service
	store store.Store
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlitetest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(strings.Repeat("x", 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	f.s = New(Config{Store: st, Box: box, Now: func() time.Time { return f.now }})
	return f
}

func (f *fixture) user(t *testing.T, name string, withTOTP bool) string {
	t.Helper()
	if _, err := f.s.CreateUser(context.Background(), name, name+"@example.org", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	if !withTOTP {
		return ""
	}
	uri, err := f.s.EnrollTOTP(context.Background(), ViaOperator, name)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("secret")
}

// drainMail returns the messages the outbox holds, as subject and body, and marks them sent.
func (f *fixture) drainMail(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	msgs, err := f.store.ClaimMail(ctx, f.now, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Subject+"\n"+m.Body)
		if err := f.store.MarkMailSent(ctx, m.ID, f.now); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func publisher() policy.Publisher {
	return policy.Publisher{Kind: policy.GitHub, Issuer: "https://token.actions.githubusercontent.com", Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"}
}

func TestPasswords(t *testing.T) {
	h := HashPassword("correct horse battery staple")
	if !strings.HasPrefix(h, "$argon2id$v=19$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	for _, c := range []struct {
		name     string
		password string
		want     bool
	}{
		{"the right password matches", "correct horse battery staple", true},
		{"another password does not", "correct horse battery stapler", false},
		{"the empty password does not", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, err := CheckPassword(h, c.password)
			if err != nil || ok != c.want {
				t.Fatalf("CheckPassword = %v, %v; want %v", ok, err, c.want)
			}
		})
	}
	t.Run("a hash of another format is an error, not a mismatch", func(t *testing.T) {
		if _, err := CheckPassword("$2y$10$abcdefghijklmnopqrstuv", "x"); err == nil {
			t.Fatal("bcrypt hash accepted")
		}
	})
}

func TestCreateUserValidatesInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []struct{ name, user, email, password string }{
		{"a name with a space", "al ice", "a@example.org", "a long enough password"},
		{"a name starting with a dash", "-alice", "a@example.org", "a long enough password"},
		{"an email with a display name", "alice", "Alice <a@example.org>", "a long enough password"},
		{"not an email", "alice", "alice", "a long enough password"},
		{"a password of 11 characters", "alice", "a@example.org", "elevenchars"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			if _, err := f.s.CreateUser(ctx, c.user, c.email, c.password); !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
		})
	}
	t.Run("a taken name, in another case, is refused", func(t *testing.T) {
		f.user(t, "alice", false)
		if _, err := f.s.CreateUser(ctx, "ALICE", "b@example.org", "a long enough password"); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTOTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret := f.user(t, "alice", true)
	code := func(offset time.Duration) string {
		c, err := totp.GenerateCode(secret, f.now.Add(offset))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("enrolling again while enrolled is refused", func(t *testing.T) {
		if _, err := f.s.EnrollTOTP(ctx, ViaOperator, "alice"); !errors.Is(err, ErrAlreadyEnrolled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the stored secret is sealed", func(t *testing.T) {
		u, _ := f.store.UserByName(ctx, "alice")
		if strings.Contains(string(u.TOTPSecret), secret) || secretbox.IsPlain(u.TOTPSecret) {
			t.Fatal("TOTP secret stored in plain text")
		}
	})
	t.Run("the current code is accepted once, then refused", func(t *testing.T) {
		c := code(0)
		if err := f.s.CheckTOTP(ctx, "alice", c); err != nil {
			t.Fatal(err)
		}
		if err := f.s.CheckTOTP(ctx, "alice", c); !errors.Is(err, ErrTOTPCodeReused) {
			t.Fatalf("err = %v, want ErrTOTPCodeReused", err)
		}
	})
	t.Run("a code of the previous step is refused once a later one was used", func(t *testing.T) {
		if err := f.s.CheckTOTP(ctx, "alice", code(-30*time.Second)); !errors.Is(err, ErrTOTPCodeReused) {
			t.Fatalf("err = %v, want ErrTOTPCodeReused", err)
		}
	})
	t.Run("the next step's code is accepted (clock skew)", func(t *testing.T) {
		if err := f.s.CheckTOTP(ctx, "alice", code(30*time.Second)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("codes two steps away are refused", func(t *testing.T) {
		f.now = f.now.Add(5 * time.Minute)
		for _, off := range []time.Duration{-60 * time.Second, 60 * time.Second} {
			if err := f.s.CheckTOTP(ctx, "alice", code(off)); !errors.Is(err, ErrBadTOTP) {
				t.Fatalf("offset %v: err = %v, want ErrBadTOTP", off, err)
			}
		}
	})
	t.Run("codes that are not six digits are refused", func(t *testing.T) {
		for _, c := range []string{"", "12345", "1234567", "12345a", " 123456"} {
			if err := f.s.CheckTOTP(ctx, "alice", c); !errors.Is(err, ErrBadTOTP) {
				t.Fatalf("%q: err = %v", c, err)
			}
		}
	})
}

// TestSecondFactorGate: every publisher change needs an owner with a second factor, and a
// refused change stores nothing.
func TestSecondFactorGate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice", true)
	f.user(t, "bob", false)
	f.user(t, "mallory", true)
	if _, err := f.s.CreateProject(ctx, ViaOperator, "sampleproject", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateProject(ctx, ViaOperator, "bobsproject", "bob"); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		pubs, err := f.store.ListPublishers(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(pubs)
	}
	for _, c := range []struct {
		name    string
		actor   string
		project string
		want    error
	}{
		{"an owner without a second factor cannot add a publisher", "bob", "bobsproject", ErrNoSecondFactor},
		{"a user with TOTP who does not own the project cannot add one, and is told it does not exist", "mallory", "sampleproject", ErrUnknownProject},
		{"an unknown user cannot add one", "nobody", "sampleproject", ErrUnknownUser},
		{"nobody can add one to an unknown project", "alice", "nosuchproject", ErrUnknownProject},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.s.AddPublisher(ctx, Actor{UserName: c.actor, Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, c.project, publisher())
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if n := count(); n != 0 {
				t.Fatalf("%d publishers stored after a refusal", n)
			}
		})
	}
	t.Run("an owner without a second factor cannot register a pending publisher", func(t *testing.T) {
		if _, err := f.s.AddPending(ctx, Actor{UserName: "bob", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, "newproject", publisher()); !errors.Is(err, ErrNoSecondFactor) {
			t.Fatalf("err = %v", err)
		}
		if p, _ := f.store.ListPending(ctx, 0); len(p) != 0 {
			t.Fatal("pending publisher stored")
		}
	})
	t.Run("an invalid publisher is refused with the policy's message", func(t *testing.T) {
		p := publisher()
		p.Workflow = "sub/release.yml"
		_, err := f.s.AddPublisher(ctx, Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, "sampleproject", p)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "workflow") {
			t.Fatalf("err = %v", err)
		}
	})
	var id int64
	t.Run("the owner with TOTP adds one, and the audit log names her and her address", func(t *testing.T) {
		sp, err := f.s.AddPublisher(ctx, Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now, Address: "192.0.2.7"}, "sampleproject", publisher())
		if err != nil {
			t.Fatal(err)
		}
		id = sp.ID
		events, err := f.store.AuditLog(ctx, sp.ProjectID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[0].Action != "publisher.add" || events[0].Actor != "alice from 192.0.2.7" {
			t.Fatalf("audit log: %+v", events)
		}
	})
	t.Run("a non-owner with TOTP cannot remove it, and is told it does not exist", func(t *testing.T) {
		if err := f.s.RemovePublisher(ctx, Actor{UserName: "mallory", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, id); !errors.Is(err, ErrUnknownID) {
			t.Fatalf("err = %v", err)
		}
		if count() != 1 {
			t.Fatal("publisher removed by a non-owner")
		}
	})
	t.Run("a pending publisher for an existing project is refused", func(t *testing.T) {
		if _, err := f.s.AddPending(ctx, Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, "sampleproject", publisher()); !errors.Is(err, ErrProjectExists) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the owner removes it", func(t *testing.T) {
		if err := f.s.RemovePublisher(ctx, Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, id); err != nil {
			t.Fatal(err)
		}
		if count() != 0 {
			t.Fatal("publisher still there")
		}
	})
}

func TestPendingPublishers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice", true)
	alice := Actor{UserName: "alice", Via: ViaOperator}
	t.Run("a pending publisher expires after 30 days", func(t *testing.T) {
		pp, err := f.s.AddPending(ctx, alice, "newproject", publisher())
		if err != nil {
			t.Fatal(err)
		}
		if got := pp.ExpiresAt.Sub(f.now); got != 30*24*time.Hour {
			t.Fatalf("expires after %v", got)
		}
	})
	t.Run("a user may have three pending publishers, not four", func(t *testing.T) {
		for _, name := range []string{"second", "third"} {
			if _, err := f.s.AddPending(ctx, alice, name, publisher()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.s.AddPending(ctx, alice, "fourth", publisher()); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("err = %v", err)
		}
	})
}
