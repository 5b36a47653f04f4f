package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// RecentAuthentication is how long after proving who they are with a second factor
// (logging in, or confirming again) a web user may perform management actions.
// Operators, acting on the command line of the service's own machine, are not asked.
const RecentAuthentication = 15 * time.Minute

// FactorAuthentication is how recent the second-factor proof must be that a change of
// second factors or recovery codes spends: each such change asks for its own.
const FactorAuthentication = 5 * time.Minute

// Lifetimes of the owner web UI's records.
const (
	EmailTokenLifetime = 24 * time.Hour
	InvitationLifetime = 7 * 24 * time.Hour
	// RecoveryCodeCount codes are made at a time; each is 80 random bits.
	RecoveryCodeCount = 8
)

// Errors of the owner web UI's actions.
var (
	ErrStaleAuthentication = fault.New(fault.Unauthorized, "authentication is not recent")
	ErrFactorProof         = fault.New(fault.Unauthorized, "second factor needed for this change")
	ErrBadLogin            = fault.New(fault.Unauthorized, "wrong user name or password")
	ErrBadPassword         = fault.New(fault.Unauthorized, "wrong password")
	ErrBadRecoveryCode     = fault.New(fault.Unauthorized, "wrong or used recovery code")
	ErrBadEmailToken       = fault.New(fault.NotFound, "unknown or expired email link")
	ErrLastFactor          = fault.New(fault.Conflict, "last second factor")
	ErrLastOwner           = fault.New(fault.Conflict, "last owner")
	ErrNoInvitation        = fault.New(fault.Conflict, "no such invitation")
	ErrWebAuthn            = fault.New(fault.Unauthorized, "security key not accepted")
	ErrWebAuthnUnavailable = fault.New(fault.Unavailable, "security keys are not available")
)

// uiState is what the owner web UI's actions need besides the configuration, made once
// by New.
type uiState struct {
	common   commonPasswords
	webauthn *webauthn.WebAuthn
	// webauthnErr says why webauthn is nil: security keys need a public URL whose host
	// is a domain name (browsers refuse an IP address as relying party id).
	webauthnErr error
	// dummyHash is checked against when a login names no user, so that the answer takes
	// as long as for a wrong password and does not tell which user names exist.
	dummyHash string
}

func newUIState(cfg Config) uiState {
	st := uiState{common: parseCommonPasswords(commonPasswordsFile), dummyHash: HashPassword(randomToken(16))}
	st.webauthn, st.webauthnErr = newWebAuthn(cfg.PublicURL)
	return st
}

// fresh is the recent-authentication rule of management actions: anyone but the operator
// must have authenticated within RecentAuthentication.
// The session must have passed a second factor: the password alone never suffices, so a
// session opened before the user enrolled one manages nothing.
func (s *Service) fresh(a Actor) error {
	if a.Via == ViaOperator {
		return nil
	}
	if !a.Factor.SecondFactor() {
		return fmt.Errorf("%w: %s logged in with the password alone; confirm with your second factor", ErrStaleAuthentication, a.UserName)
	}
	if age := s.cfg.Now().Sub(a.AuthenticatedAt); a.AuthenticatedAt.IsZero() || age > RecentAuthentication {
		return fmt.Errorf("%w: %s last authenticated more than %v ago; confirm with your second factor", ErrStaleAuthentication, a.UserName, RecentAuthentication)
	}
	return nil
}

// hasFactorProof is the rule of the pages that start a change of second factors: the
// actor's session holds a second-factor proof of the last FactorAuthentication.
func (s *Service) hasFactorProof(a Actor) error {
	if a.Via == ViaOperator {
		return nil
	}
	if age := s.cfg.Now().Sub(a.FactorProofAt); a.FactorProofAt.IsZero() || age >= FactorAuthentication {
		return fmt.Errorf("%w: confirm with your second factor", ErrFactorProof)
	}
	return nil
}

// spendFactorProof is the rule of the changes themselves: the proof is used up, so that
// each change asks for its own, and of two racing changes only one gets it.
func (s *Service) spendFactorProof(ctx context.Context, a Actor) error {
	if a.Via == ViaOperator {
		return nil
	}
	ok, err := s.cfg.Store.SpendFactorProof(ctx, a.Session, s.cfg.Now().Add(-FactorAuthentication))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: confirm with your second factor", ErrFactorProof)
	}
	return nil
}

// endOtherSessions ends every session of u but the actor's own. It follows every change of
// second factors, of the password, and every use of a recovery code: a session opened
// before (perhaps by whoever knew the old password, before a second factor was due) must
// log in again under the new rules.
func (s *Service) endOtherSessions(ctx context.Context, a Actor, u store.User) error {
	n, err := s.cfg.Store.DeleteUserSessions(ctx, u.ID, a.Session)
	if err != nil {
		return fmt.Errorf("ending the other sessions of %s: %w", u.Name, err)
	}
	if n > 0 {
		s.audit(ctx, a, u.ID, 0, "session.end", fmt.Sprintf("%d other sessions ended", n))
	}
	return nil
}

// randomToken returns n random bytes in unpadded base32, lower case: easy to type and to
// put in a URL.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashToken is how the store keeps secrets that are random enough not to need a slow
// hash (session ids, email tokens, recovery codes): SHA-256, hex.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// User returns the user called name.
func (s *Service) User(ctx context.Context, name string) (store.User, error) {
	return s.user(ctx, name)
}

// Login checks a user name and password. The caller asks for the second factor next when
// the user has one (u.HasSecondFactor()).
func (s *Service) Login(ctx context.Context, name, password string) (store.User, error) {
	if err := s.passwordLoginOff(); err != nil {
		return store.User{}, err
	}
	u, err := s.user(ctx, name)
	if errors.Is(err, ErrUnknownUser) {
		CheckPassword(s.ui.dummyHash, password)
		return store.User{}, ErrBadLogin
	}
	if err != nil {
		return store.User{}, err
	}
	if u.PasswordHash == "" {
		// An account the index created has no password: it signs in through the index.
		CheckPassword(s.ui.dummyHash, password)
		return store.User{}, ErrBadLogin
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		return store.User{}, ErrBadLogin
	}
	return u, nil
}

// CheckUserPassword checks the password of a logged-in user (re-authentication).
func (s *Service) CheckUserPassword(ctx context.Context, name, password string) error {
	u, err := s.user(ctx, name)
	if err != nil {
		return err
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("%w: this account has no password; sign in through the package index again", ErrBadPassword)
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil {
		return err
	}
	if !ok {
		return ErrBadPassword
	}
	return nil
}

// RecordLogin writes a completed login of a to the user's audit log.
func (s *Service) RecordLogin(ctx context.Context, a Actor, u store.User, how string) {
	s.audit(ctx, a, u.ID, 0, "login", u.Name+" logged in with "+how)
}

// SignUp creates a user for a visitor (a names their address) and sends the link that
// verifies their email address.
// With TPX_SIGNUP=invite it needs the token of an invitation to that address; with closed,
// nobody signs up from the web.
func (s *Service) SignUp(ctx context.Context, a Actor, invitation, name, email, password string) (store.User, error) {
	if err := s.passwordLoginOff(); err != nil {
		return store.User{}, err
	}
	var hash string
	switch s.cfg.Signup {
	case SignupClosed:
		return store.User{}, fmt.Errorf("%w: accounts come from the package index; sign in through it, or ask its operators", ErrSignupClosed)
	case SignupInvite:
		inv, err := s.SignupInvitation(ctx, invitation)
		if err != nil {
			return store.User{}, err
		}
		if !strings.EqualFold(inv.Email, email) {
			return store.User{}, invalid("this invitation is for %s; sign up with that address", inv.Email)
		}
		hash = inv.Hash
	}
	u, err := s.createUserInvited(ctx, a, hash, name, email, password)
	if err != nil {
		return store.User{}, err
	}
	if err := s.SendVerification(ctx, u); err != nil {
		s.cfg.Logger.Error("verification email not queued", "user", u.ID, "error", err)
	}
	return u, nil
}

// SendVerification queues a message with a link that verifies u's address.
func (s *Service) SendVerification(ctx context.Context, u store.User) error {
	token := randomToken(32)
	now := s.cfg.Now()
	if err := s.cfg.Store.CreateEmailToken(ctx, store.EmailToken{Hash: HashToken(token), UserID: u.ID, Email: u.Email, ExpiresAt: now.Add(EmailTokenLifetime)}); err != nil {
		return err
	}
	link := s.cfg.PublicURL + "/account/verify-email?token=" + token
	return s.cfg.Store.EnqueueMail(ctx, []store.Mail{{To: u.Email, CreatedAt: now, Subject: "tpx: verify your email address",
		Body: fmt.Sprintf("Hello %s,\n\nopen this link within %v to verify the address of your tpx account:\n\n%s\n\nIf you did not sign up, ignore this message.\n", u.Name, EmailTokenLifetime, link)}})
}

// VerifyEmail uses a verification link's token and returns the user whose address it
// verified; a names the address the link was opened from.
func (s *Service) VerifyEmail(ctx context.Context, a Actor, token string) (store.User, error) {
	id, err := s.cfg.Store.UseEmailToken(ctx, HashToken(token), s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: ask for a new one on your account page", ErrBadEmailToken)
	}
	if err != nil {
		return store.User{}, err
	}
	u, err := s.cfg.Store.UserByID(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	if a.UserName == "" {
		a.UserName = u.Name
	}
	s.audit(ctx, a, u.ID, 0, "email.verify", "email address "+u.Email+" verified")
	return u, nil
}

// EmailVerified reports whether the user's address is verified.
func (s *Service) EmailVerified(ctx context.Context, u store.User) (bool, error) {
	return s.cfg.Store.EmailVerified(ctx, u.ID)
}

// ChangePassword replaces the actor's password after checking the current one, which is
// itself the proof of identity this change needs, and ends the user's other sessions.
func (s *Service) ChangePassword(ctx context.Context, a Actor, current, next string) error {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return err
	}
	ok, err := CheckPassword(u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the current password is not right", ErrBadPassword)
	}
	if err := s.passwordProblem(u.Name, next); err != nil {
		return err
	}
	if err := s.cfg.Store.SetPassword(ctx, u.ID, HashPassword(next)); err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, 0, "password.change", "password changed")
	if err := s.endOtherSessions(ctx, a, u); err != nil {
		return err
	}
	s.mailUser(ctx, u, "tpx: your password was changed", "the password of your tpx account was changed. If it was not you, use a recovery code to log in and change it, and check your second factors.")
	return nil
}

// mailUser queues a notice to u if their address is verified; failures are logged, since
// the action it tells of already happened.
func (s *Service) mailUser(ctx context.Context, u store.User, subject, text string) {
	ok, err := s.cfg.Store.EmailVerified(ctx, u.ID)
	if err == nil && ok {
		err = s.cfg.Store.EnqueueMail(ctx, []store.Mail{{To: u.Email, Subject: subject, CreatedAt: s.cfg.Now(),
			Body: fmt.Sprintf("Hello %s,\n\n%s\n", u.Name, text)}})
	}
	if err != nil {
		s.cfg.Logger.Error("notice not queued", "user", u.ID, "subject", subject, "error", err)
	}
}

// notifyOwners queues a message to every owner of project with a verified address. A
// non-empty key makes it once-only per owner (store.SentMailKept).
func (s *Service) notifyOwners(ctx context.Context, project int64, key, subject, text string) {
	owners, err := s.cfg.Store.ProjectOwners(ctx, project)
	if err != nil {
		s.cfg.Logger.Error("owners not notified", "project", project, "subject", subject, "error", err)
		return
	}
	msgs := s.mails(owners, key, subject, text)
	if len(msgs) == 0 {
		return
	}
	if err := s.cfg.Store.EnqueueMail(ctx, msgs); err != nil {
		s.cfg.Logger.Error("owners not notified", "project", project, "subject", subject, "error", err)
	}
}

// mails are the messages that tell owners subject and text, to those with a verified
// address; key, when set, makes the outbox keep one message per key and owner.
func (s *Service) mails(owners []store.Owner, key, subject, text string) []store.Mail {
	var msgs []store.Mail
	for _, o := range owners {
		if !o.EmailVerified {
			continue
		}
		m := store.Mail{To: o.Email, Subject: subject, CreatedAt: s.cfg.Now(), Body: fmt.Sprintf("Hello %s,\n\n%s\n", o.Name, text)}
		if key != "" {
			m.DedupeKey = fmt.Sprintf("%s:user:%d", key, o.UserID)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// AuditLog returns the audit events of a user's account.
func (s *Service) AuditLog(ctx context.Context, u store.User) ([]store.AuditEvent, error) {
	return s.cfg.Store.AuditLog(ctx, 0, u.ID, 0)
}

// Sessions lists the user's active browser sessions, last used first.
func (s *Service) Sessions(ctx context.Context, u store.User) ([]store.Session, error) {
	return s.cfg.Store.UserSessions(ctx, u.ID, s.cfg.Now())
}

// EndSession logs out one of the actor's own sessions, by its id; another user's session
// is as unknown as one that does not exist.
func (s *Service) EndSession(ctx context.Context, a Actor, id string) error {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return err
	}
	sessions, err := s.cfg.Store.UserSessions(ctx, u.ID, s.cfg.Now())
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(sessions, func(ss store.Session) bool { return ss.ID == id }) {
		return invalid("no such session; it may have ended already")
	}
	if err := s.cfg.Store.DeleteSession(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, 0, "session.end", "a session was logged out")
	return nil
}

// EndOtherSessions logs out every session of the actor but the one they act from.
func (s *Service) EndOtherSessions(ctx context.Context, a Actor) error {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return err
	}
	return s.endOtherSessions(ctx, a, u)
}

// EmailLink says whose address a verification link verifies, without using it: the page
// that asks for the click names the account, so that no one verifies another's address
// by mistake.
func (s *Service) EmailLink(ctx context.Context, token string) (name, email string, err error) {
	t, err := s.cfg.Store.PeekEmailToken(ctx, HashToken(token), s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("%w: ask for a new one on your account page", ErrBadEmailToken)
	}
	if err != nil {
		return "", "", err
	}
	u, err := s.cfg.Store.UserByID(ctx, t.UserID)
	if err != nil {
		return "", "", err
	}
	return u.Name, t.Email, nil
}
