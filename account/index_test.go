package account

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/store"
)

func managedFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.s.cfg.Projects = ProjectsManaged
	return f
}

func TestProjectsModes(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name         string
		mode         ProjectsMode
		createRefuse bool
	}{
		{"In open mode an owner with a second factor creates a project", ProjectsOpen, false},
		{"In managed mode nobody creates a project from the web", ProjectsManaged, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.s.cfg.Projects = c.mode
			f.user(t, "alice", true)
			alice := Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}
			_, err := f.s.CreateOwnedProject(ctx, alice, "newproject")
			if c.createRefuse != errors.Is(err, ErrManaged) || (!c.createRefuse && err != nil) {
				t.Fatalf("CreateOwnedProject: %v", err)
			}
			_, err = f.store.ProjectByName(ctx, "newproject")
			if c.createRefuse != errors.Is(err, store.ErrNotFound) {
				t.Fatalf("project after the attempt: %v", err)
			}
			// The operator creates projects in either mode.
			if _, err := f.s.CreateProject(ctx, ViaOperator, "by-operator", "alice"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestManagedPendingNeedsAGrant(t *testing.T) {
	ctx := context.Background()
	f := managedFixture(t)
	f.user(t, "alice", true)
	f.user(t, "bob", true)
	bob := Actor{UserName: "bob", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}
	if _, err := f.s.AddPending(ctx, bob, "granted", publisher()); !errors.Is(err, ErrManaged) {
		t.Fatalf("before the grant: %v", err)
	}
	if err := f.s.IndexGrantPending(ctx, "bob", "Granted"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.IndexGrantPending(ctx, "bob", "granted"); err != nil {
		t.Fatalf("granting again: %v", err)
	}
	for _, c := range []struct {
		name  string
		actor Actor
		ok    bool
	}{
		{"granted", bob, true},
		{"other", bob, false},
		{"granted", Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, false},
	} {
		_, err := f.s.AddPending(ctx, c.actor, c.name, publisher())
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrManaged)) {
			t.Fatalf("%s for %s: %v", c.name, c.actor.UserName, err)
		}
	}
	if err := f.s.IndexGrantPending(ctx, "bob", "nobody-here!"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := f.s.IndexCreateProject(ctx, "exists", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.s.IndexGrantPending(ctx, "bob", "exists"); !errors.Is(err, ErrProjectExists) {
		t.Fatalf("granting an existing name: %v", err)
	}

	t.Run("Withdrawing the grant removes the pending publishers of that name", func(t *testing.T) {
		if err := f.s.IndexRevokePending(ctx, "bob", "GRANTED"); err != nil {
			t.Fatal(err)
		}
		u, _ := f.s.User(ctx, "bob")
		left, err := f.store.ListPending(ctx, u.ID)
		if err != nil || len(left) != 0 {
			t.Fatalf("pending left %v, %v", left, err)
		}
	})
}

func TestExchangeSeesOnlyGrantedPendingWhenManaged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "bob", true)
	bob := Actor{UserName: "bob", Via: ViaOperator}
	// Registered while projects were open, then the index took over the names.
	if _, err := f.s.AddPending(ctx, bob, "ungranted", publisher()); err != nil {
		t.Fatal(err)
	}
	p := publisher()
	key := strings.ToLower(p.Repository())
	_, found, err := f.s.ForExchange(f.store).FindCandidates(ctx, p.Issuer, key, store.Job{Workflow: p.Workflow}, f.now)
	if err != nil || len(found) != 1 {
		t.Fatalf("open: %v %v", found, err)
	}
	f.s.cfg.Projects = ProjectsManaged
	_, found, err = f.s.ForExchange(f.store).FindCandidates(ctx, p.Issuer, key, store.Job{Workflow: p.Workflow}, f.now)
	if err != nil || len(found) != 0 {
		t.Fatalf("managed without a grant: %v %v", found, err)
	}
	if err := f.s.IndexGrantPending(ctx, "bob", "ungranted"); err != nil {
		t.Fatal(err)
	}
	_, found, err = f.s.ForExchange(f.store).FindCandidates(ctx, p.Issuer, key, store.Job{Workflow: p.Workflow}, f.now)
	if err != nil || len(found) != 1 {
		t.Fatalf("managed with a grant: %v %v", found, err)
	}
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	raw, k, err := f.s.CreateAPIKey(ctx, "index", store.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, APIKeyPrefix) || strings.Contains(k.SecretHash, raw[len(raw)-64:]) {
		t.Fatalf("key %q, stored %+v", raw, k)
	}
	got, err := f.s.AuthenticateAPIKey(ctx, raw, store.ScopeAdmin)
	if err != nil || got.ID != k.ID {
		t.Fatalf("right key: %v %v", got, err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for _, c := range []struct {
		name string
		key  string
		want error
	}{
		{"No key is refused", "", ErrBadAPIKey},
		{"A key without the prefix is refused", strings.TrimPrefix(raw, APIKeyPrefix), ErrBadAPIKey},
		{"A key with one character of the secret changed is refused", flip(raw, len(raw)-1), ErrBadAPIKey},
		{"A key with an unknown lookup is refused", flip(raw, len(APIKeyPrefix)), ErrBadAPIKey},
		{"A truncated key is refused", raw[:len(raw)-1], ErrBadAPIKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := f.s.AuthenticateAPIKey(ctx, c.key, store.ScopeAdmin); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	t.Run("A key is refused for another scope", func(t *testing.T) {
		if _, err := f.s.AuthenticateAPIKey(ctx, raw, "read"); !errors.Is(err, ErrAPIKeyScope) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Only the admin scope can be created", func(t *testing.T) {
		if _, _, err := f.s.CreateAPIKey(ctx, "x", "root"); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("err = %v", err)
		}
		if _, _, err := f.s.CreateAPIKey(ctx, " ", store.ScopeAdmin); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("A revoked key is refused at once", func(t *testing.T) {
		if err := f.s.RevokeAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.AuthenticateAPIKey(ctx, raw, store.ScopeAdmin); !errors.Is(err, ErrBadAPIKey) {
			t.Fatalf("err = %v", err)
		}
		if err := f.s.RevokeAPIKey(ctx, 4242); !errors.Is(err, ErrUnknownID) {
			t.Fatalf("unknown id: %v", err)
		}
	})
	t.Run("Creating and revoking keys is in the audit log, without the key", func(t *testing.T) {
		events, err := f.store.AuditAfter(ctx, 0, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
			if strings.Contains(e.Detail, raw[len(APIKeyPrefix):]) {
				t.Fatalf("event %+v holds the key", e)
			}
		}
		if strings.Join(actions, ",") != "apikey.create,apikey.revoke" {
			t.Fatalf("actions %v", actions)
		}
	})
}

func TestIndexOwnersAndUsers(t *testing.T) {
	ctx := context.Background()
	f := managedFixture(t)
	alice, err := f.s.IndexCreateUser(ctx, IndexUser{Name: "alice", Email: "alice@example.org", Issuer: "https://idp.example.org", Subject: "a-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.s.EmailVerified(ctx, alice); !ok {
		t.Fatal("the index vouches for the address; it should count as verified")
	}
	if _, err := f.s.Login(ctx, "alice", ""); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("an account without a password logs in with none: %v", err)
	}
	for _, c := range []struct {
		name string
		in   IndexUser
		want error
	}{
		{"A subject already linked is refused", IndexUser{Name: "other", Email: "o@example.org", Issuer: "https://idp.example.org", Subject: "a-1"}, ErrIdentityLinked},
		{"An issuer without a subject is refused", IndexUser{Name: "other", Email: "o@example.org", Issuer: "https://idp.example.org"}, ErrInvalidInput},
		{"A bad email is refused", IndexUser{Name: "other", Email: "not an address"}, ErrInvalidInput},
		{"A taken name is refused", IndexUser{Name: "ALICE", Email: "o@example.org"}, ErrUserExists},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := f.s.IndexCreateUser(ctx, c.in); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if _, err := f.s.User(ctx, "other"); !errors.Is(err, ErrUnknownUser) {
				t.Fatalf("a refused user exists: %v", err)
			}
		})
	}
	f.user(t, "bob", true)
	if _, err := f.s.IndexCreateProject(ctx, "sample", []string{"alice", "nobody"}); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown owner: %v", err)
	}
	if _, err := f.s.IndexCreateProject(ctx, "sample", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	added, removed, err := f.s.IndexSetOwners(ctx, "SAMPLE", []string{"bob"})
	if err != nil || strings.Join(added, ",") != "bob" || strings.Join(removed, ",") != "alice" {
		t.Fatalf("set owners: %v %v %v", added, removed, err)
	}
	added, removed, err = f.s.IndexSetOwners(ctx, "sample", []string{"bob"})
	if err != nil || len(added)+len(removed) != 0 {
		t.Fatalf("set owners again: %v %v %v", added, removed, err)
	}
	if _, err := f.s.IndexRenameProject(ctx, "sample", "sample-2"); err != nil {
		t.Fatal(err)
	}
	p, err := f.s.IndexProjectByName(ctx, "sample-2")
	if err != nil || len(p.Owners) != 1 || p.Owners[0].Name != "bob" {
		t.Fatalf("renamed project %+v %v", p, err)
	}
	if err := f.s.IndexDeleteProject(ctx, "sample-2"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.IndexDeleteProject(ctx, "sample-2"); !errors.Is(err, ErrUnknownProject) {
		t.Fatalf("deleting again: %v", err)
	}
}
