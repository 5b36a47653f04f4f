package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	m := f.minter
	first := f.activeKID(t)
	if got := kids(t, m.JWKS()); !slices.Equal(got, []string{first}) {
		t.Fatalf("JWKS of a new store: %v, want the first key alone", got)
	}

	// The successor is created PublishAhead before the current key has signed for
	// RotateEvery, and not a moment earlier.
	f.clock.Advance(defaultRotateEvery - defaultPublishAhead - time.Second)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(storedKeys(t, f.store)); n != 1 {
		t.Fatalf("%d keys a second before rotation is due, want 1", n)
	}
	f.clock.Advance(time.Second)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	stored := storedKeys(t, f.store)
	if len(stored) != 2 {
		t.Fatalf("%d keys once rotation is due, want 2", len(stored))
	}
	second := stored[1].ID
	if got := kids(t, m.JWKS()); !slices.Contains(got, second) {
		t.Fatalf("JWKS %v does not publish the new key %s ahead of its use", got, second)
	}
	if kid := f.activeKID(t); kid != first {
		t.Fatalf("Mint signs with %s before the new key's time, want %s", kid, first)
	}

	// The last token of the old key, and the first of the new one.
	f.clock.Advance(defaultPublishAhead - time.Second)
	last, lastClaims, err := mint(m, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	next, _, err := mint(m, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	if headerOf(t, last).KeyID != first || headerOf(t, next).KeyID != second {
		t.Fatalf("signed with %s then %s, want %s then %s", headerOf(t, last).KeyID, headerOf(t, next).KeyID, first, second)
	}
	for _, raw := range []string{last, next} {
		if _, err := f.verifier.Verify(ctx, raw); err != nil {
			t.Fatalf("across the switch of keys: %v", err)
		}
	}

	// The old key stays published until every token it signed has expired, with margin.
	f.clock.Advance(defaultTTL + retireMargin - time.Second)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(t, m.JWKS()); !slices.Contains(got, first) {
		t.Fatalf("JWKS %v dropped the old key too early", got)
	}
	f.clock.Advance(time.Second)
	if !f.clock.Now().After(lastClaims.ExpiresAt.Add(verify.DefaultLeeway)) {
		t.Fatal("test is wrong: the old key's last token has not expired yet")
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(t, m.JWKS()); !slices.Equal(got, []string{second}) {
		t.Fatalf("JWKS after the old key retired: %v, want %s alone", got, second)
	}
	if n := len(storedKeys(t, f.store)); n != 1 {
		t.Fatalf("%d keys stored after retirement, want 1", n)
	}
	if _, err := m.Parse(last); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Parse of a retired key's token: %v, want ErrUnknownKey", err)
	}
}

func TestRotateNowPublishesAtOnceAndSignsAfterPublishAhead(t *testing.T) {
	f := newFixture(t)
	first := f.activeKID(t)
	if err := f.minter.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(storedKeys(t, f.store)); n != 2 {
		t.Fatalf("%d keys after Rotate, want 2", n)
	}
	next := f.newestKID(t)
	if got := kids(t, f.minter.JWKS()); !slices.Contains(got, next) {
		t.Fatalf("JWKS after Rotate: %v, want the new key too", got)
	}
	if kid := f.activeKID(t); kid != first {
		t.Fatalf("Mint switched to %s at once", kid)
	}
	f.clock.Advance(defaultPublishAhead)
	if kid := f.activeKID(t); kid != next {
		t.Fatalf("Mint signs with %s after PublishAhead, want %s", kid, next)
	}
}

func TestReplicasSharingAStoreCreateOneKeyEach(t *testing.T) {
	s := openStore(t)
	box := newBox(t, testSecret)
	clk := newClock()
	const replicas = 4

	start := func(t *testing.T) []*Minter {
		ms := make([]*Minter, replicas)
		var wg sync.WaitGroup
		for i := range ms {
			wg.Go(func() { ms[i] = newMinter(t, s, box, "https://tpx.example", clk) })
		}
		wg.Wait()
		return ms
	}
	ms := start(t)
	if n := len(storedKeys(t, s)); n != 1 {
		t.Fatalf("%d replicas starting on an empty store stored %d first keys, want 1", replicas, n)
	}

	clk.Advance(defaultRotateEvery)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			if err := m.Refresh(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	stored := storedKeys(t, s)
	if len(stored) != 2 {
		t.Fatalf("%d replicas rotating at once stored %d keys, want 2", replicas, len(stored))
	}
	clk.Advance(defaultPublishAhead)
	for i, m := range ms {
		raw, _, err := mint(m, sampleClaims())
		if err != nil {
			t.Fatal(err)
		}
		if kid := headerOf(t, raw).KeyID; kid != stored[1].ID {
			t.Errorf("replica %d signs with %s, want %s", i, kid, stored[1].ID)
		}
		if !bytes.Equal(m.JWKS(), ms[0].JWKS()) {
			t.Errorf("replica %d publishes another JWKS", i)
		}
	}
}

func TestPrivateKeysAreSealedAtRest(t *testing.T) {
	s := openStore(t)
	box := newBox(t, testSecret)
	m := newMinter(t, s, box, "https://tpx.example", newClock())
	if m.KeysInPlainText() {
		t.Error("KeysInPlainText with a secret key set")
	}
	k := storedKeys(t, s)[0]
	if secretbox.IsPlain(k.Private) {
		t.Fatal("private key stored as plain text")
	}
	der, err := box.Open("signing-key", k.Private)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(k.Private, der) || bytes.Contains(k.PublicJWK, der) {
		t.Fatal("the stored key contains the private key's DER")
	}
	var jwk map[string]any
	if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil {
		t.Fatal(err)
	}
	if _, ok := jwk["d"]; ok || jwk["kid"] != k.ID || jwk["alg"] != "ES256" {
		t.Fatalf("stored public JWK %s", k.PublicJWK)
	}

	if _, err := newBox(t, otherSecret).Open("signing-key", k.Private); err == nil {
		t.Fatal("the key opens with another secret")
	}
	if _, err := newBox(t, "").Open("signing-key", k.Private); !errors.Is(err, secretbox.ErrNoKey) {
		t.Fatalf("opening without a secret: %v, want ErrNoKey", err)
	}
	if _, err := box.Open("totp", k.Private); err == nil {
		t.Fatal("the key opens for another purpose")
	}
	for _, secret := range []string{otherSecret, ""} {
		_, err := NewMinter(t.Context(), MinterConfig{Issuer: "https://tpx.example", Keys: s, Box: newBox(t, secret)})
		if err == nil {
			t.Fatalf("a Minter with secret %q started on keys sealed with another", secret)
		}
	}
	if n := len(storedKeys(t, s)); n != 1 {
		t.Fatalf("failed starts left %d keys, want 1", n)
	}
}

func TestKeysInPlainText(t *testing.T) {
	s := openStore(t)
	clk := newClock()
	plain := newMinter(t, s, newBox(t, ""), "https://tpx.example", clk)
	if !plain.KeysInPlainText() {
		t.Fatal("a Box without a secret key does not report plain-text keys")
	}
	if !secretbox.IsPlain(storedKeys(t, s)[0].Private) {
		t.Fatal("stored key is not marked as plain text")
	}

	// A secret set later cannot encrypt the key already stored; the warning stays until
	// rotation retires that key.
	sealed := newMinter(t, s, newBox(t, testSecret), "https://tpx.example", clk)
	if !sealed.KeysInPlainText() {
		t.Fatal("a plain-text key stored earlier is not reported")
	}
	clk.Advance(defaultRotateEvery - defaultPublishAhead)
	if err := sealed.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(defaultPublishAhead + defaultTTL + retireMargin)
	if err := sealed.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sealed.KeysInPlainText() {
		t.Fatal("still reported after the plain-text key retired")
	}
}

func TestTheDiscoveryDocumentListsOnlyWhatApplies(t *testing.T) {
	f := newFixture(t)
	var d map[string]any
	if err := json.Unmarshal(f.minter.Discovery(), &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":              f.srv.URL,
		"jwks_uri":            f.srv.URL + "/.well-known/jwks.json",
		"revocation_endpoint": f.srv.URL + "/v1/tokens/revoke",
		"revocation_endpoint_auth_methods_supported": []any{"none"},
		"upload_token_type":                          "tpx-upload+jwt",
		"upload_token_audience":                      "tpx-upload",
		"upload_token_signing_alg_values_supported":  []any{"ES256"},
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("discovery document %v, want exactly %v", d, want)
	}
}

func TestMintNeedsAProject(t *testing.T) {
	f := newFixture(t)
	c := sampleClaims()
	c.Projects = nil
	if _, _, err := mint(f.minter, c); err == nil {
		t.Fatal("minted a token for no project")
	}
}

func TestNewMinterChecksItsConfig(t *testing.T) {
	s := openStore(t)
	box := newBox(t, "")
	tests := []struct {
		name string
		cfg  MinterConfig
	}{
		{"an issuer that is not a URL is refused", MinterConfig{Issuer: "tpx.example", Keys: s, Box: box}},
		{"a missing box is refused", MinterConfig{Issuer: "https://tpx.example", Keys: s}},
		{"a key published less than two refresh intervals ahead is refused",
			MinterConfig{Issuer: "https://tpx.example", Keys: s, Box: box, PublishAhead: time.Minute}},
		{"a rotation period no longer than the publication lead is refused",
			MinterConfig{Issuer: "https://tpx.example", Keys: s, Box: box, RotateEvery: time.Hour, PublishAhead: time.Hour}},
		{"a TTL longer than the store's bound on upload tokens is refused",
			MinterConfig{Issuer: "https://tpx.example", Keys: s, Box: box, TTL: store.MaxUploadTokenLifetime + time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewMinter(t.Context(), tt.cfg); err == nil {
				t.Fatal("NewMinter accepted it")
			}
		})
	}
	if n := len(storedKeys(t, s)); n != 0 {
		t.Fatalf("refused configurations stored %d keys", n)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		f.minter.Run(ctx)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestMintAndParseRunAlongsideRotation(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				raw, _, err := mint(f.minter, sampleClaims())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := f.minter.Parse(raw); err != nil {
					t.Error(err)
					return
				}
				f.minter.JWKS()
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if err := f.minter.Rotate(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}

// Upload tokens are standard ES256 JWS: go-jose, a verifier independent of ours, accepts
// each one with the published key its header names, and reads the claims Mint returned.
func TestMintedTokensVerifyWithGoJose(t *testing.T) {
	f := newFixture(t)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(f.minter.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		raw, claims, err := mint(f.minter, sampleClaims())
		if err != nil {
			t.Fatal(err)
		}
		jws, err := jose.ParseSignedCompact(strings.TrimPrefix(raw, Prefix), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		h := jws.Signatures[0].Protected
		if h.ExtraHeaders["typ"] != Type {
			t.Fatalf("typ %v, want %s", h.ExtraHeaders["typ"], Type)
		}
		keys := set.Key(h.KeyID)
		if len(keys) != 1 {
			t.Fatalf("kid %q names %d published keys", h.KeyID, len(keys))
		}
		payload, err := jws.Verify(keys[0])
		if err != nil {
			t.Fatalf("go-jose refuses the signature: %v", err)
		}
		var got Claims
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != claims.ID || !got.ExpiresAt.Equal(claims.ExpiresAt) || !slices.Equal(got.Projects, claims.Projects) {
			t.Fatalf("claims %+v, Mint returned %+v", got, claims)
		}
	}
}

// An upload token's protected header names the algorithm, the signing key and the type,
// and nothing else: no key of its own (jwk, x5c) nor a place to fetch one, which a careless
// verifier might trust, and no nonce or other member upload services would have to read.
func TestMintedHeaderIsAlgKidTypOnly(t *testing.T) {
	f := newFixture(t)
	for range 10 {
		raw, _, err := mint(f.minter, sampleClaims())
		if err != nil {
			t.Fatal(err)
		}
		seg, _, _ := strings.Cut(strings.TrimPrefix(raw, Prefix), ".")
		b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		var h map[string]any
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"alg": Algorithm, "kid": headerOf(t, raw).KeyID, "typ": Type}
		if !maps.Equal(h, want) || h["kid"] == "" {
			t.Fatalf("header %s, want exactly alg %s, a kid and typ %s", b, Algorithm, Type)
		}
	}
}
