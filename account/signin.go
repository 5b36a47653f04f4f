package account

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// Errors of sign-in through the index's identity provider, and of password login.
var (
	ErrNotLinked         = fault.New(fault.Forbidden, "no tpx account is linked to this sign-in")
	ErrPasswordLoginOff  = fault.New(fault.Forbidden, "password login is off")
	ErrIndexEmailMissing = fault.New(fault.Forbidden, "the identity provider vouched for no email address")
)

// IndexIdentity is a person as the index's identity provider vouched for them at one
// sign-in.
type IndexIdentity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	// Username is the provider's suggestion for a new account's name; it finds no
	// account.
	Username string
	// SecondFactor says the sign-in itself passed a factor the operator counts as tpx's
	// second (TPX_OIDC_AMR_COUNTS).
	SecondFactor bool
}

// PasswordLogin reports whether users may log in with a password (TPX_PASSWORD_LOGIN).
func (s *Service) PasswordLogin() bool { return !s.cfg.NoPasswordLogin }

// passwordLoginOff refuses a password where the operator turned passwords off.
func (s *Service) passwordLoginOff() error {
	if s.cfg.NoPasswordLogin {
		return fmt.Errorf("%w: sign in through the package index", ErrPasswordLoginOff)
	}
	return nil
}

// SignInIndex returns the user linked to id's (issuer, subject) and the factor the
// sign-in counts as, creating the user when the sign-up mode lets this person in: with
// TPX_SIGNUP=open from an address the provider verified, with invite from an invitation
// (whose token hashes to invitation) to that address; with closed, only the index
// creates users (admin API). An address is never a way into an existing account: one
// that another account has is refused, not linked.
func (s *Service) SignInIndex(ctx context.Context, a Actor, id IndexIdentity, invitation string) (store.User, store.SessionFactor, error) {
	factor := store.FactorIndex
	if id.SecondFactor {
		factor = store.FactorIndexMFA
	}
	if id.Issuer == "" || id.Subject == "" {
		return store.User{}, "", fmt.Errorf("%w: the sign-in names no subject", ErrNotLinked)
	}
	u, err := s.cfg.Store.UserByIdentity(ctx, id.Issuer, id.Subject)
	if err == nil {
		return u, factor, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, "", err
	}
	var hash string
	switch s.cfg.Signup {
	case SignupClosed:
		return store.User{}, "", fmt.Errorf("%w: the package index creates the accounts of tpx, and has not created one for you; ask its operators", ErrNotLinked)
	case SignupInvite:
		if invitation == "" {
			return store.User{}, "", fmt.Errorf("%w: sign-up is by invitation; open the link you were sent and sign in from there", ErrBadInvitation)
		}
		inv, err := s.SignupInvitation(ctx, invitation)
		if err != nil {
			return store.User{}, "", err
		}
		if !strings.EqualFold(inv.Email, id.Email) || !id.EmailVerified {
			return store.User{}, "", fmt.Errorf("%w: the invitation is for %s, and the identity provider vouched for %s", ErrBadInvitation, inv.Email, vouched(id))
		}
		hash = inv.Hash
	}
	if id.Email == "" {
		return store.User{}, "", fmt.Errorf("%w: allow tpx to read your address at the identity provider (scope email), and sign in again", ErrIndexEmailMissing)
	}
	if a, err := mail.ParseAddress(id.Email); err != nil || a.Address != id.Email {
		return store.User{}, "", fmt.Errorf("%w: the identity provider's address %q is not a plain email address", ErrIndexEmailMissing, id.Email)
	}
	if !id.EmailVerified {
		return store.User{}, "", fmt.Errorf("%w: the identity provider has not verified the address %s; verify it there, then sign in again", ErrEmailUnverified, id.Email)
	}
	u, err = s.createIndexUser(ctx, a, id, hash)
	if err != nil {
		return store.User{}, "", err
	}
	return u, factor, nil
}

func vouched(id IndexIdentity) string {
	switch {
	case id.Email == "":
		return "no address"
	case !id.EmailVerified:
		return id.Email + " without verifying it"
	}
	return id.Email
}

// nameChars are what a user name may not have; the rest is kept.
var nameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// candidateNames are the names a new account may take: the provider's preferred
// username, the address's local part, and those with a number.
func candidateNames(id IndexIdentity) []string {
	var bases []string
	for _, b := range []string{id.Username, strings.SplitN(id.Email, "@", 2)[0]} {
		b = strings.Trim(nameChars.ReplaceAllString(b, "-"), "._-")
		if len(b) > 40 {
			b = strings.Trim(b[:40], "._-")
		}
		if b != "" && userNameRe.MatchString(b) {
			bases = append(bases, b)
		}
	}
	if len(bases) == 0 {
		bases = []string{"user"}
	}
	out := append([]string{}, bases...)
	for n := 2; n <= 9; n++ {
		out = append(out, fmt.Sprintf("%s-%d", bases[0], n))
	}
	return out
}

// createIndexUser creates the account of a first sign-in, linked to its subject, with its
// address verified (the provider verified it), spending the invitation if there is one:
// all in one transaction.
func (s *Service) createIndexUser(ctx context.Context, a Actor, id IndexIdentity, invitation string) (store.User, error) {
	for _, name := range candidateNames(id) {
		u, err := s.cfg.Store.CreateLinkedUser(ctx, store.User{Name: name, Email: id.Email, CreatedAt: s.cfg.Now()},
			store.ExternalIdentity{Issuer: id.Issuer, Subject: id.Subject}, invitation)
		switch {
		case errors.Is(err, store.ErrConflict):
			continue // the name is taken: try the next
		case errors.Is(err, store.ErrEmailTaken):
			return store.User{}, fmt.Errorf("%w: another tpx account has the address %s, and it is not linked to this sign-in; log in to that account, or ask the operators to link it", ErrNotLinked, id.Email)
		case errors.Is(err, store.ErrIdentityTaken):
			// A sign-in of the same person in another tab was first.
			return s.cfg.Store.UserByIdentity(ctx, id.Issuer, id.Subject)
		case errors.Is(err, store.ErrNotFound):
			return store.User{}, fmt.Errorf("%w: ask whoever invited you for a new link", ErrBadInvitation)
		case err != nil:
			return store.User{}, err
		}
		a.UserName = u.Name
		s.audit(ctx, a, u.ID, 0, "user.add", fmt.Sprintf("user %s created at a first sign-in through the index (subject %s)", u.Name, id.Subject))
		return u, nil
	}
	return store.User{}, invalid("no free user name could be made from %q; ask the operators to create your account", id.Email)
}
