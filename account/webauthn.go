package account

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tpx-dev/tpx/store"
)

// ceremonyTimeout bounds a WebAuthn ceremony: the browser is told so, the library checks
// it, and the stored challenge expires then.
const ceremonyTimeout = 5 * time.Minute

// Ceremonies, the kinds of stored challenge.
const (
	ceremonyRegister = "webauthn-register"
	ceremonyLogin    = "webauthn-login"
)

// newWebAuthn configures the relying party from the public URL: its host is the RP ID and
// its origin the only origin accepted, exactly.
func newWebAuthn(publicURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%w: TPX_PUBLIC_URL is not an absolute http(s) URL", ErrWebAuthnUnavailable)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return nil, fmt.Errorf("%w: TPX_PUBLIC_URL's host %s is an IP address, and browsers accept security keys for domain names only (use localhost rather than 127.0.0.1 on one machine)", ErrWebAuthnUnavailable, u.Hostname())
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "tpx",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		Timeouts:      webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWebAuthnUnavailable, err)
	}
	return w, nil
}

// WebAuthnAvailable returns nil, or why security keys cannot be used with this service.
func (s *Service) WebAuthnAvailable() error { return s.ui.webauthnErr }

// webauthnUser is a user as the WebAuthn library sees them. The user handle is the user's
// id: stable, never reused, and no personal information.
type webauthnUser struct {
	u     store.User
	creds []webauthn.Credential
}

func (w webauthnUser) WebAuthnID() []byte                         { return binary.BigEndian.AppendUint64(nil, uint64(w.u.ID)) }
func (w webauthnUser) WebAuthnName() string                       { return w.u.Name }
func (w webauthnUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// webauthnUser loads u's credentials, with the stored counter as the authoritative one.
func (s *Service) webauthnUser(ctx context.Context, u store.User) (webauthnUser, []store.WebAuthnCredential, error) {
	rows, err := s.cfg.Store.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return webauthnUser{}, nil, err
	}
	w := webauthnUser{u: u}
	for _, r := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal(r.Record, &c); err != nil {
			// A credential that cannot be read cannot be used; the others still can.
			s.cfg.Logger.Error("unreadable webauthn credential", "user", u.ID, "credential", r.ID, "error", err)
			continue
		}
		c.Authenticator.SignCount = r.SignCount
		w.creds = append(w.creds, c)
	}
	return w, rows, nil
}

func (s *Service) relyingParty() (*webauthn.WebAuthn, error) {
	if s.ui.webauthn == nil {
		return nil, s.ui.webauthnErr
	}
	return s.ui.webauthn, nil
}

// putCeremony stores a ceremony's session data under the browser session, replacing an
// earlier unfinished one: one challenge per session and kind.
func (s *Service) putCeremony(ctx context.Context, session, ceremony string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	return s.cfg.Store.PutChallenge(ctx, session, ceremony, data, s.cfg.Now().Add(ceremonyTimeout))
}

// takeCeremony removes and returns a ceremony's session data: a challenge answers once.
func (s *Service) takeCeremony(ctx context.Context, session, ceremony string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	data, err := s.cfg.Store.TakeChallenge(ctx, session, ceremony, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return sd, fmt.Errorf("%w: the request expired or was answered already; try again", ErrWebAuthn)
	}
	if err != nil {
		return sd, err
	}
	return sd, json.Unmarshal(data, &sd)
}

// BeginWebAuthnRegistration starts registering a security key or passkey for the actor
// and returns the options for navigator.credentials.create (JSON). session names the
// browser session the challenge belongs to.
func (s *Service) BeginWebAuthnRegistration(ctx context.Context, a Actor, session string) ([]byte, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return nil, err
	}
	if u.HasSecondFactor() {
		if err := s.fresh(a); err != nil {
			return nil, err
		}
		if err := s.hasFactorProof(a); err != nil {
			return nil, err
		}
	}
	w, _, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	creation, sd, err := rp.BeginRegistration(w,
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		return nil, err
	}
	if err := s.putCeremony(ctx, session, ceremonyRegister, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation.Response)
}

// credentialName checks the name an owner gives a key.
func credentialName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Security key", nil
	}
	if len([]rune(name)) > 64 || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", invalid("a key's name is at most 64 printable characters")
	}
	return name, nil
}

// FinishWebAuthnRegistration checks the browser's answer (JSON of the PublicKeyCredential)
// to the session's registration challenge and stores the key under name. It returns new
// recovery codes when this is the user's first second factor; a user who had one spends a
// factor proof. Every other session of the user ends.
func (s *Service) FinishWebAuthnRegistration(ctx context.Context, a Actor, session, name string, response []byte) ([]string, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	name, err = credentialName(name)
	if err != nil {
		return nil, err
	}
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return nil, err
	}
	sd, err := s.takeCeremony(ctx, session, ceremonyRegister)
	if err != nil {
		return nil, err
	}
	w, _, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: the browser's answer could not be read: %v", ErrWebAuthn, err)
	}
	cred, err := rp.CreateCredential(w, sd, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWebAuthn, err)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	first := !u.HasSecondFactor()
	if !first {
		if err := s.spendFactorProof(ctx, a); err != nil {
			return nil, err
		}
	}
	c, err := s.cfg.Store.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey,
		SignCount: cred.Authenticator.SignCount, Name: name, Record: record, CreatedAt: s.cfg.Now()})
	if errors.Is(err, store.ErrConflict) {
		return nil, invalid("this security key is registered already")
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, a, u.ID, 0, "webauthn.add", fmt.Sprintf("security key %d (%s) added", c.ID, name))
	s.mailUser(ctx, u, "tpx: security key added to your account", fmt.Sprintf("a security key or passkey named %q was added as a second factor of your tpx account.", name))
	if err := s.endOtherSessions(ctx, a, u); err != nil {
		return nil, err
	}
	if !first {
		return nil, nil
	}
	return s.newRecoveryCodes(ctx, a, u)
}

// BeginWebAuthnLogin starts the second step of a login with a security key and returns
// the options for navigator.credentials.get (JSON).
func (s *Service) BeginWebAuthnLogin(ctx context.Context, name, session string) ([]byte, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return nil, err
	}
	u, err := s.user(ctx, name)
	if err != nil {
		return nil, err
	}
	w, _, err := s.webauthnUser(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(w.creds) == 0 {
		return nil, fmt.Errorf("%w: %s has no security key", ErrWebAuthn, u.Name)
	}
	assertion, sd, err := rp.BeginLogin(w)
	if err != nil {
		return nil, err
	}
	if err := s.putCeremony(ctx, session, ceremonyLogin, sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion.Response)
}

// FinishWebAuthnLogin checks the browser's answer to the login challenge of a's session:
// the signature, the exact origin and RP ID, and a signature counter that went up (a key
// whose counter did not may be a clone, and is refused).
func (s *Service) FinishWebAuthnLogin(ctx context.Context, a Actor, response []byte) error {
	name, session := a.UserName, a.Session
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	u, err := s.user(ctx, name)
	if err != nil {
		return err
	}
	sd, err := s.takeCeremony(ctx, session, ceremonyLogin)
	if err != nil {
		return err
	}
	w, rows, err := s.webauthnUser(ctx, u)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return fmt.Errorf("%w: the browser's answer could not be read: %v", ErrWebAuthn, err)
	}
	cred, err := rp.ValidateLogin(w, sd, parsed)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWebAuthn, err)
	}
	var row store.WebAuthnCredential
	for _, r := range rows {
		if bytes.Equal(r.CredentialID, cred.ID) {
			row = r
		}
	}
	count := parsed.Response.AuthenticatorData.Counter
	if cred.Authenticator.CloneWarning {
		s.audit(ctx, a, u.ID, 0, "webauthn.counter", fmt.Sprintf("security key %d (%s) refused: its signature counter %d did not go past %d; it may have been cloned", row.ID, row.Name, count, row.SignCount))
		return fmt.Errorf("%w: the key's signature counter did not go up, as a cloned key's would not; use another factor", ErrWebAuthn)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	ok, err := s.cfg.Store.UseWebAuthnCredential(ctx, row.ID, count, record, s.cfg.Now())
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the key's signature counter did not go up; try again", ErrWebAuthn)
	}
	return nil
}

// WebAuthnCredentials lists the user's security keys.
func (s *Service) WebAuthnCredentials(ctx context.Context, u store.User) ([]store.WebAuthnCredential, error) {
	return s.cfg.Store.WebAuthnCredentials(ctx, u.ID)
}

// RenameWebAuthnCredential names one of the actor's keys; a name only helps the owner
// tell keys apart, so this needs no recent authentication.
func (s *Service) RenameWebAuthnCredential(ctx context.Context, a Actor, id int64, name string) error {
	name, err := credentialName(name)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return err
	}
	err = s.cfg.Store.RenameWebAuthnCredential(ctx, u.ID, id, name)
	if errors.Is(err, store.ErrNotFound) {
		return invalid("no such security key")
	}
	return err
}

// RemoveWebAuthnCredential removes one of the actor's keys, unless it is their last
// second factor, spending a factor proof; every other session of the user ends.
func (s *Service) RemoveWebAuthnCredential(ctx context.Context, a Actor, id int64) error {
	u, err := s.authorize(ctx, a)
	if err != nil {
		return err
	}
	if !(u.TOTPSecret != nil && u.TOTPConfirmed) && u.WebAuthnCount <= 1 {
		// Refused before the proof is spent; the store decides again, atomically.
		return fmt.Errorf("%w: enrol TOTP or another key before removing your only second factor", ErrLastFactor)
	}
	if err := s.spendFactorProof(ctx, a); err != nil {
		return err
	}
	err = s.cfg.Store.RemoveWebAuthnCredential(ctx, u.ID, id)
	switch {
	case errors.Is(err, store.ErrLastFactor):
		return fmt.Errorf("%w: enrol TOTP or another key before removing your only second factor", ErrLastFactor)
	case errors.Is(err, store.ErrNotFound):
		return invalid("no such security key")
	case err != nil:
		return err
	}
	s.audit(ctx, a, u.ID, 0, "webauthn.remove", fmt.Sprintf("security key %d removed", id))
	s.mailUser(ctx, u, "tpx: security key removed from your account", "a security key or passkey was removed from the second factors of your tpx account.")
	return s.endOtherSessions(ctx, a, u)
}
