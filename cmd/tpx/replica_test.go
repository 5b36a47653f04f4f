package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/policy"
)

// removalBound is the most a publisher removed through one replica may keep matching on
// another (issue 5). tpx caches no publisher lookups, so the removal counts from its
// commit; the bound leaves room for a loaded machine.
const removalBound = 5 * time.Second

// TestPostgresReplicas runs two `tpx serve` processes on one database, as two replicas
// behind a load balancer.
func TestPostgresReplicas(t *testing.T) {
	base := needPostgres(t)
	w := newWorld(t, buildTPX(t), createDatabase(t, base))
	// Started together on a database without a signing key: both create one, and the
	// store's lock lets one of them in.
	var a, b *serveProc
	var wg sync.WaitGroup
	wg.Go(func() { a = w.serve(nil) })
	wg.Go(func() { b = w.serve(nil) })
	wg.Wait()
	replicas := []*serveProc{a, b}

	t.Run("Replicas started together on an empty database create one signing key and publish the same JWKS", func(t *testing.T) {
		if n := w.count(`SELECT count(*) FROM signing_keys`); n != 1 {
			t.Fatalf("%d signing keys, want 1", n)
		}
		if ja, jb := getString(t, a.url+"/.well-known/jwks.json"), getString(t, b.url+"/.well-known/jwks.json"); ja != jb {
			t.Fatalf("the replicas publish different key sets:\n%s\n%s", ja, jb)
		}
	})

	w.githubPublisher("sampleproject")

	t.Run("Each of 100 tokens sent to both replicas at once is exchanged exactly once", func(t *testing.T) {
		const tokens = 100
		type outcome struct{ a, b mintAnswer }
		out := make([]outcome, tokens)
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for i := range tokens {
			tok := w.token()
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				start := make(chan struct{})
				var pair sync.WaitGroup
				pair.Go(func() { <-start; out[i].a = exchangeAt(a.url, tok) })
				pair.Go(func() { <-start; out[i].b = exchangeAt(b.url, tok) })
				close(start)
				pair.Wait()
			})
		}
		wg.Wait()
		successes, replays := 0, 0
		var ids []string
		for i, o := range out {
			won := 0
			for _, r := range []mintAnswer{o.a, o.b} {
				switch {
				case r.err != nil:
					t.Fatalf("token %d: %v", i, r.err)
				case r.status == http.StatusOK:
					won++
					ids = append(ids, uploadTokenID(t, r.token))
					w.secret(r.token)
				case r.status == http.StatusUnprocessableEntity && r.code == "invalid-reuse-token":
					replays++
				default:
					t.Fatalf("token %d: %d %s", i, r.status, r.raw)
				}
			}
			if won != 1 {
				t.Errorf("token %d was exchanged %d times", i, won)
			}
			successes += won
		}
		t.Logf("%d tokens, each to both replicas at once: %d exchanged, %d refused as reuse", tokens, successes, replays)
		if successes != tokens || replays != tokens {
			t.Fatalf("%d successes and %d replays, want %d of each", successes, replays, tokens)
		}
		if n := w.count(`SELECT count(*) FROM exchanges WHERE token_id = ANY($1)`, ids); n != tokens {
			t.Fatalf("%d of the %d upload tokens handed out have a record", n, tokens)
		}
		if n := w.count(`SELECT count(*) FROM exchanges`); n != tokens {
			t.Fatalf("%d exchange records, want %d", n, tokens)
		}
	})

	t.Run("A pending publisher used on both replicas at once creates its project once", func(t *testing.T) {
		const rounds = 8
		for r := range rounds {
			project := fmt.Sprintf("newproject%d", r)
			pp, err := w.accounts.AddPending(context.Background(), account.Actor{UserName: "alice", Via: account.ViaOperator}, project,
				policy.Publisher{Kind: policy.GitLab, Issuer: w.gl.URL(), Owner: "my-group", Name: "my-project", Workflow: ".gitlab-ci.yml"})
			if err != nil {
				t.Fatal(err)
			}
			toks := []string{w.gl.Sign(w.gl.GitLabClaims(nil)), w.gl.Sign(w.gl.GitLabClaims(nil))}
			w.secret(toks...)
			got := make([]mintAnswer, len(replicas))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, p := range replicas {
				wg.Go(func() { <-start; got[i] = exchangeAt(p.url, toks[i]) })
			}
			close(start)
			wg.Wait()
			won := 0
			for i, g := range got {
				switch {
				case g.err != nil:
					t.Fatalf("round %d, replica %d: %v", r, i, g.err)
				case g.status == http.StatusOK:
					won++
					w.secret(g.token)
				// The loser read the pending publisher before the winner converted it;
				// a loser that read after finds the new project's publisher and succeeds.
				case g.status == http.StatusUnprocessableEntity && g.code == "invalid-pending-publisher":
				default:
					t.Fatalf("round %d, replica %d: %d %s", r, i, g.status, g.raw)
				}
			}
			if won == 0 {
				t.Fatalf("round %d: neither replica exchanged (pending publisher %d)", r, pp.ID)
			}
			if n := w.count(`SELECT count(*) FROM projects WHERE name_key = $1`, project); n != 1 {
				t.Fatalf("round %d: %d projects named %s", r, n, project)
			}
			if n := w.count(`SELECT count(*) FROM publishers p JOIN projects j ON j.id = p.project_id WHERE j.name_key = $1`, project); n != 1 {
				t.Fatalf("round %d: project %s has %d publishers, want the converted one", r, project, n)
			}
			if n := w.count(`SELECT count(*) FROM project_owners o JOIN projects j ON j.id = o.project_id WHERE j.name_key = $1`, project); n != 1 {
				t.Fatalf("round %d: project %s has %d owners, want alice", r, project, n)
			}
			if n := w.count(`SELECT count(*) FROM pending_publishers WHERE id = $1`, pp.ID); n != 0 {
				t.Fatalf("round %d: the pending publisher outlived its conversion", r)
			}
		}
	})

	t.Run("A publisher removed through replica A is refused by replica B within the bound", func(t *testing.T) {
		// A publisher of its own workflow, so that once it is gone nothing matches.
		pub, err := w.accounts.AddPublisher(context.Background(), account.Actor{UserName: "alice", Via: account.ViaOperator}, "sampleproject",
			policy.Publisher{Kind: policy.GitHub, Issuer: w.gh.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "publish.yml"})
		if err != nil {
			t.Fatal(err)
		}
		publish := func() mintAnswer {
			ref := "octo-org/octo-repo/.github/workflows/publish.yml@refs/heads/main"
			tok := w.gh.Sign(w.gh.GitHubClaims(map[string]any{"workflow_ref": ref, "job_workflow_ref": ref}))
			w.secret(tok)
			got := exchangeAt(b.url, tok)
			w.secret(got.token)
			return got
		}
		if got := publish(); got.status != http.StatusOK {
			t.Fatalf("before the removal: %d %s", got.status, got.raw)
		}
		// The command line acts on the same database as replica A, which is what an
		// owner removing the publisher through A's interface does.
		out, err := w.tpxCommand("publisher", "remove", strconv.FormatInt(pub.ID, 10), "--by", "alice")
		if err != nil {
			t.Fatalf("publisher remove: %v\n%s", err, out)
		}
		removed := time.Now()
		for attempt := 1; ; attempt++ {
			got := publish()
			if got.status == http.StatusUnprocessableEntity && got.code == "invalid-publisher" {
				delay := time.Since(removed)
				t.Logf("cross-replica propagation delay of a publisher removal: %v, at attempt %d (bound %v; tpx caches no publisher lookups)", delay, attempt, removalBound)
				break
			}
			if got.status != http.StatusOK {
				t.Fatalf("after the removal: %d %s", got.status, got.raw)
			}
			if time.Since(removed) > removalBound {
				t.Fatalf("replica B still matched the removed publisher %v after the removal (bound %v)", time.Since(removed), removalBound)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("No secret reaches either replica's log", func(t *testing.T) {
		assertNoSecrets(t, a.logs()+b.logs(), w.secrets)
	})
	for _, p := range replicas {
		if err := p.stop(); err != nil {
			t.Errorf("stopping a replica: %v\n%s", err, p.logs())
		}
	}
}

func getString(t *testing.T, u string) string {
	t.Helper()
	resp, err := exchangeClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
