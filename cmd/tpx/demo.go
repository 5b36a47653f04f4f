package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/verify"
	"github.com/tpx-dev/tpx/web"
)

// demo runs one whole exchange on loopback: a throwaway embedded store, a built-in issuer
// standing in for GitHub Actions, tpx itself over real HTTP, and the upload token checked
// the way an upload service would.
func (c *cli) demo(ctx context.Context, args []string) error {
	fs := c.newFlagSet("demo")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	start := time.Now()
	n := 0
	step := func(format string, a ...any) {
		n++
		fmt.Fprintf(c.stdout, "\n%d. "+format+"\n", append([]any{n}, a...)...)
	}
	say := func(format string, a ...any) { fmt.Fprintf(c.stdout, "   "+format+"\n", a...) }

	dir, err := os.MkdirTemp("", "tpx-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step("A throwaway embedded store")
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	say("SQLite in %s, migrated", dir)

	step("A test issuer on loopback, standing in for GitHub Actions")
	iss, err := oidctest.Serve()
	if err != nil {
		return err
	}
	defer iss.Close()
	say("issuer %s serves its discovery document and RSA keys (JWKS)", iss.URL())

	step("tpx on loopback, trusting only that issuer")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	public := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	cfg := Config{
		Addr: ln.Addr().String(), PublicURL: public.String(), Audience: deploymentAudience(public), TokenTTL: 15 * time.Minute,
		SecretKey: rand.Text() + rand.Text(),
		Providers: []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: iss.URL()}},
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := build(ctx, cfg, wiring{store: st, log: quiet, client: providers.HardenedClient(nil)})
	if err != nil {
		return err
	}
	defer svc.set.Close()
	srv := &http.Server{Handler: svc.handler, ConnContext: web.ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	say("listening on %s; signing keys encrypted at rest with a throwaway TPX_SECRET_KEY", cfg.PublicURL)

	step("An owner, alice, with a second factor (TOTP)")
	accounts := account.New(account.Config{Store: st, Box: svc.box, Logger: quiet, Issuers: cfg.Providers})
	if _, err := accounts.CreateUser(ctx, "alice", "alice@example.org", rand.Text()); err != nil {
		return err
	}
	uri, err := accounts.EnrollTOTP(ctx, account.ViaOperator, "alice")
	if err != nil {
		return err
	}
	secret, err := totpSecret(uri)
	if err != nil {
		return err
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		return err
	}
	if err := accounts.CheckTOTP(ctx, "alice", code); err != nil {
		return fmt.Errorf("alice's first TOTP code was refused: %w", err)
	}
	err = accounts.CheckTOTP(ctx, "alice", code)
	if !errors.Is(err, account.ErrTOTPCodeReused) {
		return fmt.Errorf("a reused TOTP code was not refused: %v", err)
	}
	say("alice enrolled TOTP; her authenticator's code was accepted once and refused the second time")

	step("Project sampleproject, with a trusted publisher registered by alice")
	if _, err := accounts.CreateProject(ctx, account.ViaOperator, "sampleproject", "alice"); err != nil {
		return err
	}
	pub, err := accounts.AddPublisher(ctx, account.Actor{UserName: "alice", Via: account.ViaOperator}, "sampleproject", policy.Publisher{
		Kind: policy.GitHub, Issuer: iss.URL(), Owner: "octo-org", Name: "sampleproject", Workflow: "release.yml", Environment: "release",
	})
	if err != nil {
		return err
	}
	say("publisher %d: %s", pub.ID, account.Describe(pub.Publisher))
	say("ids not given, so they are pinned by the first successful exchange")

	step("The CI job asks tpx for its audience, then its platform for a token")
	var aud struct{ Audience string }
	if err := getJSON(ctx, cfg.PublicURL+"/_/oidc/audience", &aud); err != nil {
		return err
	}
	claims := iss.GitHubClaims(map[string]any{
		"repository": "octo-org/sampleproject", "repository_owner": "octo-org",
		"workflow_ref":     "octo-org/sampleproject/.github/workflows/release.yml@refs/tags/v1.0.0",
		"job_workflow_ref": "octo-org/sampleproject/.github/workflows/release.yml@refs/tags/v1.0.0",
		"ref":              "refs/tags/v1.0.0", "environment": "release", "aud": aud.Audience,
	})
	ciToken := iss.Sign(claims)
	say("audience %q; GitHub-shaped RS256 token for %s, workflow release.yml, environment release (%d bytes)", aud.Audience, claims["repository"], len(ciToken))

	step("The job exchanges it: POST /_/oidc/mint-token")
	status, reply, err := postToken(ctx, cfg.PublicURL, ciToken)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("exchange answered %d: %s", status, reply)
	}
	var minted struct {
		Token   string
		Expires int64
	}
	if err := json.Unmarshal(reply, &minted); err != nil {
		return err
	}
	say("200: upload token %s… (%d bytes), expires %s", minted.Token[:16], len(minted.Token), time.Unix(minted.Expires, 0).UTC().Format(time.RFC3339))

	step("The upload service verifies it offline against tpx's JWKS")
	v, err := verify.New(verify.Config{Issuer: cfg.PublicURL})
	if err != nil {
		return err
	}
	got, err := v.Verify(ctx, minted.Token)
	if err != nil {
		return fmt.Errorf("the upload token did not verify: %w", err)
	}
	if !got.Covers("sampleproject") {
		return fmt.Errorf("the upload token does not cover sampleproject: %v", got.Projects)
	}
	say("valid: projects %v, publisher %d (%s %s), ref %s, sha %.12s", got.Projects, got.Publisher.ID, got.Publisher.Repository, got.Publisher.Workflow, got.Ref, got.SHA)
	pinned, err := st.PublisherByID(ctx, pub.ID)
	if err != nil {
		return err
	}
	say("publisher %d is now pinned to owner id %s, repository id %s", pub.ID, pinned.OwnerID, pinned.RepositoryID)

	step("The same CI token a second time is refused")
	status, reply, err = postToken(ctx, cfg.PublicURL, ciToken)
	if err != nil {
		return err
	}
	if err := expectCode(status, reply, "invalid-reuse-token"); err != nil {
		return err
	}
	say("%d %s", status, reply)

	step("A token from another workflow of the same repository is refused")
	claims = iss.GitHubClaims(map[string]any{
		"repository": "octo-org/sampleproject", "repository_owner": "octo-org",
		"repository_id": pinned.RepositoryID, "repository_owner_id": pinned.OwnerID,
		"workflow_ref": "octo-org/sampleproject/.github/workflows/nightly.yml@refs/heads/main",
		"environment":  "release", "aud": aud.Audience,
	})
	status, reply, err = postToken(ctx, cfg.PublicURL, iss.Sign(claims))
	if err != nil {
		return err
	}
	if err := expectCode(status, reply, "invalid-publisher"); err != nil {
		return err
	}
	say("%d %s", status, reply)

	step("A token the job requested for another deployment's audience is refused")
	other := deploymentAudience(&url.URL{Scheme: "https", Host: "staging.example.org"})
	claims = iss.GitHubClaims(map[string]any{
		"repository": "octo-org/sampleproject", "repository_owner": "octo-org",
		"repository_id": pinned.RepositoryID, "repository_owner_id": pinned.OwnerID,
		"workflow_ref":     "octo-org/sampleproject/.github/workflows/release.yml@refs/tags/v1.0.0",
		"job_workflow_ref": "octo-org/sampleproject/.github/workflows/release.yml@refs/tags/v1.0.0",
		"ref":              "refs/tags/v1.0.0", "environment": "release", "aud": other,
	})
	status, reply, err = postToken(ctx, cfg.PublicURL, iss.Sign(claims))
	if err != nil {
		return err
	}
	if err := expectCode(status, reply, "invalid-token"); err != nil {
		return err
	}
	say("audience %q is not %q: %d %s", other, aud.Audience, status, reply)

	fmt.Fprintf(c.stdout, "\nDone in %s: every step passed.\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func totpSecret(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	s := u.Query().Get("secret")
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s)); err != nil || s == "" {
		return "", errors.New("the otpauth URI holds no secret")
	}
	return s, nil
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func postToken(ctx context.Context, base, tok string) (int, []byte, error) {
	body, _ := json.Marshal(map[string]string{"token": tok})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_/oidc/mint-token", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, bytes.TrimSpace(b), err
}

func expectCode(status int, reply []byte, code string) error {
	var r struct{ Errors []struct{ Code string } }
	if err := json.Unmarshal(reply, &r); err != nil || len(r.Errors) != 1 || r.Errors[0].Code != code {
		return fmt.Errorf("expected error %s, got %d %s", code, status, reply)
	}
	return nil
}
