package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

// Tenants: what one signed-up user can do to another's publishing. Each attack is played
// over HTTP with real CI tokens, on every backend.

// as is an operator-side actor for user name.
func as(name string) account.Actor { return account.Actor{UserName: name, Via: account.ViaOperator} }

// releaseRules is the GitHub rules for octo-org/octo-repo's release.yml in environment
// env (none when empty), as a pending publisher would name them.
func (h *harness) releaseRules(env string) policy.Publisher {
	return policy.Publisher{Kind: policy.GitHub, Issuer: h.gh.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml", Environment: env}
}

func (h *harness) owns(t *testing.T, project, user string) bool {
	t.Helper()
	ctx := context.Background()
	p, err := h.store.ProjectByName(ctx, project)
	if err != nil {
		t.Fatalf("project %s: %v", project, err)
	}
	u, err := h.store.UserByName(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := h.store.IsOwner(ctx, p.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// verifyEmail marks user's address verified, as following the mailed link does, so that
// notifications reach them.
func (h *harness) verifyEmail(t *testing.T, user string) {
	t.Helper()
	ctx := context.Background()
	u, err := h.store.UserByName(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := h.store.CreateEmailToken(ctx, store.EmailToken{Hash: "link-" + user, UserID: u.ID, Email: u.Email, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.UseEmailToken(ctx, "link-"+user, now); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) pendingOf(t *testing.T, user string) []store.PendingPublisher {
	t.Helper()
	u, err := h.store.UserByName(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	pps, err := h.store.ListPending(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return pps
}

func TestPendingPublisherCapture(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("an environment-bound pending publisher beats another user's earlier unbound one", func(t *testing.T) {
			h := newHarness(t, b)
			h.user("mallory", true)
			h.user("bob", true)
			if _, err := h.accounts.AddPending(ctx, as("mallory"), "newpkg", h.releaseRules("")); err != nil {
				t.Fatal(err)
			}
			if _, err := h.accounts.AddPending(ctx, as("bob"), "newpkg", h.releaseRules("prod")); err != nil {
				t.Fatalf("bob's environment-bound registration was refused: %v", err)
			}
			r := h.accepted(t, func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": "prod"})))
			})
			if got := h.projects(t, r.Token); !slices.Equal(got, []string{"newpkg"}) {
				t.Fatalf("bob's job got a token for %v, want [newpkg]", got)
			}
			if !h.owns(t, "newpkg", "bob") || h.owns(t, "newpkg", "mallory") {
				t.Fatal("newpkg is not owned by bob alone, whose environment-bound publisher the job satisfied")
			}
			if pps := h.pendingOf(t, "mallory"); len(pps) != 1 {
				t.Fatalf("mallory's pending publisher was deleted by bob's exchange: %+v", pps)
			}
			// Mallory's registration cannot act any more: the name exists.
			h.refused(t, 422, "invalid-publisher", func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": "staging"})))
			})
		})

		t.Run("registering another user's rules is refused as contested, whatever the name or the case of a GitHub environment", func(t *testing.T) {
			h := newHarness(t, b)
			h.user("mallory", true)
			h.user("bob", true)
			if _, err := h.accounts.AddPending(ctx, as("mallory"), "newpkg", h.releaseRules("PROD")); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"newpkg", "bobspkg"} {
				_, err := h.accounts.AddPending(ctx, as("bob"), name, h.releaseRules("prod"))
				if !errors.Is(err, account.ErrContested) || !strings.Contains(err.Error(), "may be contested") || strings.Contains(err.Error(), "mallory") {
					t.Fatalf("bob registering mallory's rules for %s: got %v, want a refusal saying the name may be contested, naming no one", name, err)
				}
			}
			if pps := h.pendingOf(t, "bob"); len(pps) != 0 {
				t.Fatalf("bob's refused registrations were stored: %+v", pps)
			}
			if pps := h.pendingOf(t, "mallory"); len(pps) != 1 {
				t.Fatalf("mallory's pending publishers changed: %+v", pps)
			}
		})

		t.Run("a pending publisher whose name was taken meanwhile refuses the exchange and stays its registrant's", func(t *testing.T) {
			h := newHarness(t, b)
			h.user("bob", false)
			if _, err := h.accounts.AddPending(ctx, as("alice"), "newproj", h.releaseRules("")); err != nil {
				t.Fatal(err)
			}
			if _, err := h.accounts.CreateProject(ctx, account.ViaOperator, "NewProj", "bob"); err != nil {
				t.Fatal(err)
			}
			h.refused(t, 422, "invalid-publisher", func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
			if h.owns(t, "newproj", "alice") {
				t.Fatal("alice became an owner of bob's NewProj")
			}
			if pps := h.pendingOf(t, "alice"); len(pps) != 1 {
				t.Fatalf("alice's pending publisher was removed by someone's exchange: %+v", pps)
			}
		})
	})
}

func TestProjectNamesFold(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		h := newHarness(t, b)
		h.user("mallory", true)
		h.github("Foo.Bar", nil)

		for _, spelling := range []string{"foo-bar", "foo_bar", "FOO.BAR", "foo__bar"} {
			if _, err := h.accounts.CreateProject(ctx, account.ViaOperator, spelling, "mallory"); !errors.Is(err, account.ErrProjectExists) {
				t.Errorf("creating %s beside Foo.Bar: got %v, want ErrProjectExists", spelling, err)
			}
			if _, err := h.accounts.AddPending(ctx, as("mallory"), spelling, h.releaseRules("x")); !errors.Is(err, account.ErrProjectExists) {
				t.Errorf("a pending publisher for %s beside Foo.Bar: got %v, want ErrProjectExists", spelling, err)
			}
		}
		r := h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		v, err := verify.New(verify.Config{Issuer: h.url})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := v.Verify(ctx, r.Token)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(claims.Projects, []string{"foo-bar"}) {
			t.Fatalf("the token carries %v, want the canonical [foo-bar]", claims.Projects)
		}
		for _, spelling := range []string{"Foo.Bar", "foo_bar", "FOO-BAR"} {
			if !claims.Covers(spelling) {
				t.Errorf("the token does not cover %s", spelling)
			}
		}
		if claims.Covers("foobar") {
			t.Error("the token covers foobar, another name")
		}
	})
}

// TestOtherTenantsLearnNothingOfPrivateJobs: publishers on mallory's projects that name
// alice's repository, one refused and one matched, show mallory nothing of a job from a
// repository that is not public but the time and the rule; of a public one, what the
// platform shows anyone.
func TestOtherTenantsLearnNothingOfPrivateJobs(t *testing.T) {
	t.Parallel()
	// Claim values of alice's job that must not reach mallory when the repository is private.
	job := map[string]any{"ref": "refs/heads/embargo-fix-7a", "sha": "feedfacefeedfacefeedfacefeedfacefeedface",
		"run_id": "777001", "environment": "embargo-env", "actor": "victim-dev", "event_name": "workflow_dispatch",
		"workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/embargo-fix-7a"}
	secrets := []string{"embargo-fix-7a", "feedface", "777001", "embargo-env", "victim-dev", "workflow_dispatch"}

	for _, c := range []struct {
		name       string
		visibility any
		shown      bool
	}{
		{"a private repository's job leaves no claim value in mallory's views", "private", false},
		{"an internal repository's job leaves no claim value in mallory's views", "internal", false},
		{"a job whose token does not say the visibility counts as not public", oidctest.Omit, false},
		{"a public repository's job is shown in full", "public", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				ctx := context.Background()
				h := newHarness(t, b)
				mallory := h.enrolled("mallory")
				h.verifyEmail(t, "mallory")
				h.github("sampleproject", func(p *policy.Publisher) { p.Environment = "embargo-env" })
				for _, project := range []string{"spy-fail", "spy-match"} {
					if _, err := h.accounts.CreateProject(ctx, account.ViaOperator, project, "mallory"); err != nil {
						t.Fatal(err)
					}
				}
				rules := h.releaseRules("")
				if _, err := h.accounts.AddPublisher(ctx, as("mallory"), "spy-match", rules); err != nil {
					t.Fatal(err)
				}
				rules.Workflow = "other.yml"
				if _, err := h.accounts.AddPublisher(ctx, as("mallory"), "spy-fail", rules); err != nil {
					t.Fatal(err)
				}
				claims := h.gh.GitHubClaims(job)
				if c.visibility == oidctest.Omit {
					delete(claims, "repository_visibility")
				} else {
					claims["repository_visibility"] = c.visibility
				}
				h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(claims)) })
				h.svc.ex.Wait() // owners are told after the reply

				var seen strings.Builder
				fail, err := h.store.ProjectByName(ctx, "spy-fail")
				if err != nil {
					t.Fatal(err)
				}
				failures, err := h.store.FailedExchanges(ctx, fail.ID)
				if err != nil || len(failures) != 1 {
					t.Fatalf("spy-fail has %d failures (%v), want the one of alice's job", len(failures), err)
				}
				fmt.Fprintf(&seen, "%+v\n", failures[0])
				if !strings.Contains(failures[0].Reason, "workflow") {
					t.Errorf("the failure does not say which rule failed: %q", failures[0].Reason)
				}
				page := uiLogin(t, h.url, "mallory", mallory).Get("/projects/spy-fail")
				seen.WriteString(html.UnescapeString(page.Body))
				match, err := h.store.ProjectByName(ctx, "spy-match")
				if err != nil {
					t.Fatal(err)
				}
				events, err := h.store.AuditLog(ctx, match.ID, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range events {
					fmt.Fprintf(&seen, "%s %s\n", e.Action, e.Detail)
				}
				rows, err := h.db.Query(`SELECT subject, body FROM outbox WHERE recipient = 'mallory@example.org'`)
				if err != nil {
					t.Fatal(err)
				}
				mails := 0
				for rows.Next() {
					var subject, body string
					if err := rows.Scan(&subject, &body); err != nil {
						t.Fatal(err)
					}
					mails++
					fmt.Fprintf(&seen, "%s\n%s\n", subject, body)
				}
				rows.Close()
				if mails == 0 {
					t.Fatal("mallory got no mail about the job her publisher served; the test would prove nothing of mail")
				}
				// Of a public job the ref, commit, run and environment are shown (the
				// platform shows them to anyone); the actor never is.
				for i, s := range secrets {
					if c.shown && i >= 4 {
						break
					}
					if strings.Contains(seen.String(), s) != c.shown {
						t.Errorf("%q shown to mallory: %v, want %v; mallory saw:\n%s", s, !c.shown, c.shown, seen.String())
					}
				}
			})
		})
	}
}

// spam registers, as user, n projects with names of 100 characters, each with a publisher
// for alice's release rules changed by edit: what any signed-up user can do.
func (h *harness) spam(t *testing.T, user string, n int, edit func(i int, p *policy.Publisher)) {
	t.Helper()
	ctx := context.Background()
	u, err := h.store.UserByName(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("%s-%04d-%s", user, i, strings.Repeat("x", 100))[:100]
		proj, err := h.store.CreateProject(ctx, name, u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := h.releaseRules("")
		if edit != nil {
			edit(i, &p)
		}
		if _, err := h.store.AddPublisher(ctx, store.Publisher{Publisher: p, ProjectID: proj.ID, CreatedBy: u.ID, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOtherTenantsCannotBreakOrInflateAnExchange: publishers that other users registered,
// before alice did, for alice's repository neither make her token unverifiable nor leave her
// project out of it, nor make the token name their configuration when hers is more specific.
func TestOtherTenantsCannotBreakOrInflateAnExchange(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		h := newHarness(t, b)
		h.user("mallory", true)
		h.user("trudy", true)
		h.spam(t, "mallory", 130, nil)
		h.spam(t, "trudy", 3, nil)
		v, err := verify.New(verify.Config{Issuer: h.url})
		if err != nil {
			t.Fatal(err)
		}
		check := func(t *testing.T, r reply, want func(verify.Claims) error) {
			t.Helper()
			if len(r.Token) > 16*1024 {
				t.Fatalf("the upload token is %d bytes, past what verifiers accept", len(r.Token))
			}
			c, err := v.Verify(ctx, r.Token)
			if err != nil {
				t.Fatalf("the upload token does not verify: %v", err)
			}
			if !c.Covers("sampleproject") {
				t.Fatalf("the upload token does not cover alice's sampleproject: %d projects %v…", len(c.Projects), c.Projects[:min(3, len(c.Projects))])
			}
			if err := want(c); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("alice's project is covered and the token verifies, however many projects others registered first", func(t *testing.T) {
			alices := h.github("sampleproject", nil)
			r := h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
			check(t, r, func(c verify.Claims) error {
				owners := map[string]bool{}
				for _, p := range c.Projects {
					owners[strings.SplitN(p, "-", 2)[0]] = true
				}
				if !owners["trudy"] || !owners["mallory"] {
					return fmt.Errorf("each registrant should get turns: the token covers %d projects, registrants %v", len(c.Projects), owners)
				}
				return nil
			})
			t.Run("a client naming its project gets a token for that project alone, naming its publisher", func(t *testing.T) {
				body, _ := json.Marshal(map[string]string{"token": h.gh.Sign(h.gh.GitHubClaims(nil)), "project": "SampleProject"})
				r := h.accepted(t, func() reply { return h.post(t, body) })
				check(t, r, func(c verify.Claims) error {
					if len(c.Projects) != 1 || c.Publisher.ID != alices.ID {
						return fmt.Errorf("the token covers %v through publisher %d, want [sampleproject] through alice's %d", c.Projects, c.Publisher.ID, alices.ID)
					}
					return nil
				})
			})
			t.Run("naming a project none of the job's publishers serve is refused", func(t *testing.T) {
				body, _ := json.Marshal(map[string]string{"token": h.gh.Sign(h.gh.GitHubClaims(nil)), "project": "nosuchproject"})
				h.refused(t, 422, "invalid-publisher", func() reply { return h.post(t, body) })
			})
		})

		t.Run("the token names the publisher the job satisfied most specifically, not an older one of another user", func(t *testing.T) {
			alices := h.github("sampleproject", func(p *policy.Publisher) { p.Environment = "Prod" })
			r := h.accepted(t, func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": "prod"})))
			})
			check(t, r, func(c verify.Claims) error {
				if c.Publisher.ID != alices.ID || c.Projects[0] != "sampleproject" {
					return fmt.Errorf("the token names publisher %d and first project %s, want alice's environment-bound %d and sampleproject", c.Publisher.ID, c.Projects[0], alices.ID)
				}
				return nil
			})
		})

		t.Run("publishers that refuse the job are recorded a few at a time, not one row each", func(t *testing.T) {
			h.user("eve", true)
			h.spam(t, "eve", 40, func(i int, p *policy.Publisher) { p.Environment = fmt.Sprintf("env-%d", i) })
			var before int
			if err := h.db.QueryRow(`SELECT count(*) FROM failed_exchanges`).Scan(&before); err != nil {
				t.Fatal(err)
			}
			h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
			h.svc.ex.Wait() // refusals of a successful exchange are recorded after the reply
			var after int
			if err := h.db.QueryRow(`SELECT count(*) FROM failed_exchanges`).Scan(&after); err != nil {
				t.Fatal(err)
			}
			if after-before > exchange.MaxFailuresRecorded || after == before {
				t.Fatalf("one exchange recorded %d failures", after-before)
			}
		})
	})
}
