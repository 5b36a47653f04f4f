package token

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

// KeyStore is the part of store.Store the Minter uses; store.Store satisfies it.
type KeyStore interface {
	// SigningKeys returns every stored signing key.
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// AddSigningKeyUnlessNewer stores k unless a key created after notAfter exists,
	// atomically across replicas.
	AddSigningKeyUnlessNewer(ctx context.Context, k store.SigningKey, notAfter time.Time) (bool, error)
	DeleteSigningKey(ctx context.Context, id string) error
}

// MinterConfig configures a Minter. Issuer, Keys and Box are required.
type MinterConfig struct {
	// Issuer is tpx's public URL (TPX_PUBLIC_URL): the "iss" of every token, and the
	// base of the JWKS and discovery URLs.
	Issuer string
	// TTL is how long a token is valid; default 15 minutes. Keys are deleted TTL plus a
	// margin after they stop signing, so every replica must use the same TTL (or the
	// replica with the longest TTL must be the one whose tokens matter).
	TTL  time.Duration
	Keys KeyStore
	// Box seals private keys before they reach Keys.
	Box *secretbox.Box
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RotateEvery is how long each key signs; default 30 days.
	RotateEvery time.Duration
	// PublishAhead is how long a new key is in the JWKS before it signs, so that upload
	// services which cached the JWKS already know it, and every replica has loaded it
	// (for Parse) before any replica signs with it; default 1 hour. It must be shorter
	// than RotateEvery and at least 10 minutes (twice the Run interval).
	PublishAhead time.Duration
	// Logger receives key creation and deletion and Run's refresh failures; default
	// slog.Default().
	Logger *slog.Logger
}

const (
	defaultTTL          = 15 * time.Minute
	defaultRotateEvery  = 30 * 24 * time.Hour
	defaultPublishAhead = time.Hour
	// retireMargin is added to the TTL before a superseded key is deleted. It covers
	// clock skew between replicas and upload services, the verifiers' leeway, and a
	// replica that last loaded the ring a Run interval ago.
	retireMargin = 10 * time.Minute
	// refreshEvery is the Run interval. A key created by another replica, or by
	// Rotate on the command line, reaches this replica's JWKS and Parse within it;
	// PublishAhead is at least twice as long, so that happens before the key signs.
	refreshEvery    = 5 * time.Minute
	minPublishAhead = 2 * refreshEvery
	// parseLeeway is Parse's allowance for clock skew between tpx replicas.
	parseLeeway = 30 * time.Second
	// sealPurpose binds sealed private keys to their use (internal/secretbox).
	sealPurpose = "signing-key"
)

// ErrNoActiveKey is returned by Claim when no loaded key may sign yet. NewMinter creates
// one that signs at once, so this means the ring was emptied behind the Minter's back.
var ErrNoActiveKey = errors.New("no upload-token signing key is active")

// Minter mints upload tokens and maintains the signing-key ring. Claim, Parse, JWKS and
// Discovery read an immutable snapshot of the ring and never wait for Refresh, Run or
// Rotate, which replace the snapshot atomically. A Minter is safe for concurrent use,
// and several replicas may share one store.
type Minter struct {
	issuer                         string
	ttl, rotateEvery, publishAhead time.Duration
	keys                           KeyStore
	box                            *secretbox.Box
	now                            func() time.Time
	log                            *slog.Logger
	discovery                      []byte
	parser                         *verify.Verifier

	mu   sync.Mutex // serialises Refresh and Rotate with each other only
	ring atomic.Pointer[ring]
}

// ring is one immutable snapshot of the signing keys, with everything derived from them
// computed once: parsed private keys, their JWS headers, and the JWKS document.
type ring struct {
	keys      []*signingKey // oldest first
	byID      map[string]*signingKey
	jwks      []byte
	plaintext bool // some stored private key is not encrypted
}

type signingKey struct {
	id         string
	createdAt  time.Time
	activateAt time.Time
	sealed     []byte // as stored; a changed value is parsed again
	public     *ecdsa.PublicKey
	jwk        jose.JSONWebKey // public half, as published
	// signer signs the key's tokens (go-jose, safe for concurrent use), made once when
	// the key is loaded.
	signer    jose.Signer
	plaintext bool
}

// active returns the key that signs at now: the newest whose ActivateAt has come.
func (r *ring) active(now time.Time) *signingKey {
	for _, k := range slices.Backward(r.keys) {
		if !k.activateAt.After(now) {
			return k
		}
	}
	return nil
}

// NewMinter checks cfg, loads the key ring (creating the first key in an empty store)
// and returns a Minter ready to mint.
func NewMinter(ctx context.Context, cfg MinterConfig) (*Minter, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("token: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.Keys == nil || cfg.Box == nil {
		return nil, errors.New("token: MinterConfig needs Keys and Box")
	}
	m := &Minter{
		issuer:       cfg.Issuer,
		ttl:          cmp.Or(cfg.TTL, defaultTTL),
		rotateEvery:  cmp.Or(cfg.RotateEvery, defaultRotateEvery),
		publishAhead: cmp.Or(cfg.PublishAhead, defaultPublishAhead),
		keys:         cfg.Keys,
		box:          cfg.Box,
		now:          cfg.Now,
		log:          cfg.Logger,
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	switch {
	case m.ttl < time.Second:
		return nil, fmt.Errorf("token: TTL %s is shorter than a second", m.ttl)
	case m.ttl > store.MaxUploadTokenLifetime:
		return nil, fmt.Errorf("token: TTL %s is longer than %s", m.ttl, store.MaxUploadTokenLifetime)
	case m.publishAhead < minPublishAhead:
		return nil, fmt.Errorf("token: PublishAhead %s is shorter than %s", m.publishAhead, minPublishAhead)
	case m.rotateEvery <= m.publishAhead:
		return nil, fmt.Errorf("token: RotateEvery %s must be longer than PublishAhead %s", m.rotateEvery, m.publishAhead)
	}
	if m.discovery, err = discovery(m.issuer); err != nil {
		return nil, err
	}
	// Parse checks tokens exactly as upload services do, against the keys in the ring.
	m.parser, err = verify.New(verify.Config{
		Issuer: m.issuer,
		Now:    m.now,
		Leeway: parseLeeway,
		Keys: func(kid string) (*ecdsa.PublicKey, bool) {
			if k := m.ring.Load().byID[kid]; k != nil {
				return k.public, true
			}
			return nil, false
		},
	})
	if err != nil {
		return nil, err
	}
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Refresh loads the stored keys, creates the first key or the next one when due,
// deletes keys that no unexpired token can need any more, and publishes the result.
// On error the previous snapshot stays in use.
func (m *Minter) Refresh(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refresh(ctx, false)
}

// Rotate creates a new key now, whatever the age of the current one. The key is
// published at once and signs PublishAhead later, like a scheduled rotation: signing at
// once would hand out tokens that upload services with a cached JWKS, and replicas that
// have not refreshed yet, cannot verify until their next fetch. If another replica
// stores a key while this one generates its own, that key is the rotation and this one
// is dropped.
func (m *Minter) Rotate(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refresh(ctx, true)
}

// Run refreshes the ring every few minutes until ctx is done, logging failures; the last
// good snapshot keeps serving meanwhile.
func (m *Minter) Run(ctx context.Context) {
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("refreshing upload-token signing keys", "err", err)
			}
		}
	}
}

func (m *Minter) refresh(ctx context.Context, force bool) error {
	now := m.now()
	stored, err := m.load(ctx)
	if err != nil {
		return err
	}
	// Open every stored key before writing anything: a replica started with the wrong
	// TPX_SECRET_KEY must fail here, not add a key that the other replicas cannot open.
	var prev map[string]*signingKey
	if cur := m.ring.Load(); cur != nil {
		prev = cur.byID
	}
	r, err := m.build(stored, prev)
	if err != nil {
		return err
	}
	if tried, err := m.addIfDue(ctx, stored, now, force); err != nil {
		return err
	} else if tried {
		// Reload whether or not our key was stored: if another replica won the race,
		// its key is the one to load.
		if stored, err = m.load(ctx); err != nil {
			return err
		}
	}
	stored, delErr := m.deleteRetired(ctx, stored, now)
	if r, err = m.build(stored, r.byID); err != nil {
		return err
	}
	m.ring.Store(r)
	return delErr
}

// load returns the stored keys sorted oldest first; ties (keys created in the same
// instant) are broken by activation time and then id, so every replica agrees on the
// newest key.
func (m *Minter) load(ctx context.Context) ([]store.SigningKey, error) {
	stored, err := m.keys.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: loading signing keys: %w", err)
	}
	slices.SortFunc(stored, func(a, b store.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), a.ActivateAt.Compare(b.ActivateAt), strings.Compare(a.ID, b.ID))
	})
	return stored, nil
}

// addIfDue creates a key when the store has none (signing at once: there is nothing to
// publish ahead of), when forced, or when the newest key has signed for
// RotateEvery-PublishAhead (so its successor signs when it has signed for RotateEvery).
// It reports whether it tried to store one.
func (m *Minter) addIfDue(ctx context.Context, stored []store.SigningKey, now time.Time, force bool) (bool, error) {
	// notAfter is the creation time of the newest key this decision was based on: the
	// store refuses the new key if another replica created one after it meanwhile. The
	// zero time refuses it if any key exists at all.
	var notAfter time.Time
	activate := now.Add(m.publishAhead)
	if len(stored) == 0 {
		activate = now
	} else {
		newest := stored[len(stored)-1]
		if !force && now.Before(newest.ActivateAt.Add(m.rotateEvery-m.publishAhead)) {
			return false, nil
		}
		notAfter = newest.CreatedAt
	}
	k, err := m.newKey(now, activate)
	if err != nil {
		return false, err
	}
	added, err := m.keys.AddSigningKeyUnlessNewer(ctx, k, notAfter)
	if err != nil {
		return false, fmt.Errorf("token: storing signing key: %w", err)
	}
	if added {
		m.log.Info("created upload-token signing key", "kid", k.ID, "activate_at", k.ActivateAt)
	}
	return true, nil
}

// deleteRetired deletes every key older than the newest key that has been signing for
// longer than TTL+retireMargin: each of their tokens has expired, and none of them signs
// again. It returns the keys left (those it could not delete included).
func (m *Minter) deleteRetired(ctx context.Context, stored []store.SigningKey, now time.Time) ([]store.SigningKey, error) {
	cutoff := now.Add(-(m.ttl + retireMargin))
	last := -1
	for i, k := range stored {
		if !k.ActivateAt.After(cutoff) {
			last = i
		}
	}
	if last <= 0 {
		return stored, nil
	}
	var kept []store.SigningKey
	var errs []error
	for _, k := range stored[:last] {
		err := m.keys.DeleteSigningKey(ctx, k.ID)
		switch {
		case err == nil:
			m.log.Info("deleted retired upload-token signing key", "kid", k.ID)
		case errors.Is(err, store.ErrNotFound):
			// Another replica deleted it first.
		default:
			kept = append(kept, k)
			errs = append(errs, fmt.Errorf("token: deleting signing key %s: %w", k.ID, err))
		}
	}
	return append(kept, stored[last:]...), errors.Join(errs...)
}

// newKey generates a P-256 key whose kid is its RFC 7638 thumbprint, sealed for storage.
func (m *Minter) newKey(now, activate time.Time) (store.SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, err := m.box.Seal(sealPurpose, der)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: sealing signing key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: Algorithm, Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	public, err := jwk.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{
		ID:         jwk.KeyID,
		Algorithm:  Algorithm,
		Private:    sealed,
		PublicJWK:  public,
		CreatedAt:  now,
		ActivateAt: activate,
	}, nil
}

// build makes a snapshot of stored, reusing the keys already parsed in prev so that each
// key is opened and parsed once per process, not once per refresh.
func (m *Minter) build(stored []store.SigningKey, prev map[string]*signingKey) (*ring, error) {
	r := &ring{byID: make(map[string]*signingKey, len(stored))}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(stored))}
	for _, sk := range stored {
		k := prev[sk.ID]
		if k == nil || !bytes.Equal(k.sealed, sk.Private) || !k.activateAt.Equal(sk.ActivateAt) {
			var err error
			if k, err = m.open(sk); err != nil {
				return nil, fmt.Errorf("token: signing key %s: %w", sk.ID, err)
			}
		}
		r.keys = append(r.keys, k)
		r.byID[k.id] = k
		r.plaintext = r.plaintext || k.plaintext
		set.Keys = append(set.Keys, k.jwk)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	r.jwks = jwks
	return r, nil
}

// open unseals and parses a stored key and checks that its published half matches it.
func (m *Minter) open(sk store.SigningKey) (*signingKey, error) {
	if sk.Algorithm != Algorithm {
		return nil, fmt.Errorf("algorithm %q, want %s", sk.Algorithm, Algorithm)
	}
	der, err := m.box.Open(sealPurpose, sk.Private)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("private key is not a P-256 ECDSA key")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(sk.PublicJWK); err != nil {
		return nil, fmt.Errorf("public JWK: %w", err)
	}
	if pub, ok := jwk.Key.(*ecdsa.PublicKey); !ok || !pub.Equal(&priv.PublicKey) || jwk.KeyID != sk.ID {
		return nil, errors.New("public JWK does not match the private key")
	}
	// The protected header names the key and the type: {"alg":"ES256","kid":…,"typ":…}.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(Algorithm), Key: jose.JSONWebKey{Key: priv, KeyID: sk.ID}},
		(&jose.SignerOptions{}).WithType(Type))
	if err != nil {
		return nil, err
	}
	return &signingKey{
		id:         sk.ID,
		createdAt:  sk.CreatedAt,
		activateAt: sk.ActivateAt,
		sealed:     sk.Private,
		public:     &priv.PublicKey,
		jwk:        jose.JSONWebKey{Key: &priv.PublicKey, KeyID: sk.ID, Algorithm: Algorithm, Use: "sig"},
		signer:     signer,
		plaintext:  secretbox.IsPlain(sk.Private),
	}, nil
}

// Unsigned is an upload token whose claims are fixed, id and times included, and whose
// signature is still to be made, by the key that was active when they were fixed.
type Unsigned struct {
	Claims  Claims
	key     *signingKey
	payload []byte
}

// Claim fixes the claims of an upload token carrying c: it sets its issuer, audience,
// times and a fresh jti, and picks the key that will sign it. The caller fills Subject,
// Projects (at least one), Publisher and the source facts; Sign then signs, so that the
// caller can record the token's id and expiry while the signature is made.
func (m *Minter) Claim(c Claims) (Unsigned, error) {
	if len(c.Projects) == 0 {
		return Unsigned{}, errors.New("token: an upload token must name at least one project")
	}
	now := m.now()
	k := m.ring.Load().active(now)
	if k == nil {
		return Unsigned{}, ErrNoActiveKey
	}
	var id [16]byte
	rand.Read(id[:])
	// NumericDate has whole seconds: truncating here makes the returned claims equal to
	// what a verifier decodes. nbf lies before iat so that a verifier whose clock runs
	// behind tpx's, with no leeway of its own, still accepts a fresh token.
	iat := now.Truncate(time.Second)
	c.Issuer, c.Audience = m.issuer, Audience
	c.IssuedAt, c.NotBefore, c.ExpiresAt = iat, iat.Add(-verify.NotBeforeSkew), now.Add(m.ttl).Truncate(time.Second)
	c.ID = base64.RawURLEncoding.EncodeToString(id[:])
	// Claims marshal themselves; calling that directly spares encoding/json re-reading
	// the result to check it.
	payload, err := c.MarshalJSON()
	if err != nil {
		return Unsigned{}, err
	}
	return Unsigned{Claims: c, key: k, payload: payload}, nil
}

// Sign returns the upload token u describes. It may run on any goroutine.
func (u Unsigned) Sign() (string, error) {
	if u.key == nil {
		return "", errors.New("token: no key to sign with: the claims were not fixed by Minter.Claim")
	}
	raw, err := u.key.sign(u.payload)
	if err != nil {
		return "", fmt.Errorf("token: signing: %w", err)
	}
	return raw, nil
}

// sign returns the upload token, prefix included, of payload: a compact JWS (RFC 7515)
// that go-jose signs ES256.
func (k *signingKey) sign(payload []byte) (string, error) {
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return "", err
	}
	return Prefix + compact, nil
}

// Parse checks a token tpx minted against the Minter's own keys, the same way an upload
// service's Verifier does (introspection and revocation use it). It reads only memory.
func (m *Minter) Parse(raw string) (Claims, error) {
	return m.parser.Verify(context.Background(), raw)
}

// JWKS returns the JSON Web Key Set of every published key (served at JWKSPath): the
// key that signs, keys that will sign soon, and retired keys some unexpired token may
// still carry.
func (m *Minter) JWKS() []byte { return bytes.Clone(m.ring.Load().jwks) }

// RevocationPath and IntrospectionPath are tpx's RFC 7009 and RFC 7662 endpoints,
// relative to its public URL.
const (
	RevocationPath    = "/v1/tokens/revoke"
	IntrospectionPath = "/v1/tokens/introspect"
)

// Discovery returns the discovery document served at DiscoveryPath. Its issuer is the
// Minter's Issuer: a document naming any other would describe tokens tpx never mints.
func (m *Minter) Discovery() []byte { return bytes.Clone(m.discovery) }

// KeysInPlainText reports whether private signing keys are stored unencrypted: the Box
// has no secret key, or a key was stored before one was set (it stays unencrypted until
// rotation retires it). serve warns loudly when it is true.
func (m *Minter) KeysInPlainText() bool { return !m.box.Encrypts() || m.ring.Load().plaintext }

// discovery is tpx's metadata as the issuer of upload tokens, holding only what applies:
// tpx is not an OpenID provider (no authorization or token endpoint, no ID tokens), so the
// OpenID fields are left out. The token is its own authorisation to revoke itself
// (RFC 7009 with RFC 8414's "none" method). Introspection, which needs the operator's
// secret, is added by the HTTP layer when it is switched on.
func discovery(issuer string) ([]byte, error) {
	base := strings.TrimSuffix(issuer, "/")
	return json.Marshal(struct {
		Issuer              string   `json:"issuer"`
		JWKSURI             string   `json:"jwks_uri"`
		Revocation          string   `json:"revocation_endpoint"`
		RevocationAuth      []string `json:"revocation_endpoint_auth_methods_supported"`
		UploadTokenType     string   `json:"upload_token_type"`
		UploadTokenAudience string   `json:"upload_token_audience"`
		UploadTokenAlgs     []string `json:"upload_token_signing_alg_values_supported"`
	}{
		Issuer:              issuer,
		JWKSURI:             base + JWKSPath,
		Revocation:          base + RevocationPath,
		RevocationAuth:      []string{"none"},
		UploadTokenType:     Type,
		UploadTokenAudience: Audience,
		UploadTokenAlgs:     []string{Algorithm},
	})
}
