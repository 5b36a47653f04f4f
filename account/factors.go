package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/store"
)

// totpStep returns the time step, the current one or one either side, for which code is
// right for the base32 secret.
func (s *Service) totpStep(secret []byte, code string) (int64, bool, error) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false, nil
	}
	now := s.cfg.Now().Unix() / 30
	for step := now - 1; step <= now+1; step++ {
		want, err := hotp.GenerateCodeCustom(string(secret), uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true, nil
		}
	}
	return 0, false, nil
}

// StartTOTP gives the actor a new TOTP secret that counts once ConfirmTOTP saw a code of
// it. A user who has TOTP must remove it first; a user with another factor must have
// authenticated recently, since a new factor is a new way into the account.
func (s *Service) StartTOTP(ctx context.Context, a Actor) (*otp.Key, error) {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return nil, err
	}
	if u.TOTPSecret != nil && u.TOTPConfirmed {
		return nil, fmt.Errorf("%w: remove the current TOTP before enrolling a new one", ErrAlreadyEnrolled)
	}
	if u.HasSecondFactor() {
		if err := s.fresh(a); err != nil {
			return nil, err
		}
		if err := s.hasFactorProof(a); err != nil {
			return nil, err
		}
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.Issuer, AccountName: u.Name, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	sealed, err := s.cfg.Box.Seal("totp", []byte(key.Secret()))
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.SetTOTP(ctx, u.ID, sealed, false); err != nil {
		return nil, err
	}
	return key, nil
}

// PendingTOTP returns the key of the user's unconfirmed TOTP secret, or nil if there is none.
func (s *Service) PendingTOTP(ctx context.Context, name string) (*otp.Key, error) {
	u, err := s.user(ctx, name)
	if err != nil || u.TOTPSecret == nil || u.TOTPConfirmed {
		return nil, err
	}
	secret, err := s.cfg.Box.Open("totp", u.TOTPSecret)
	if err != nil {
		return nil, err
	}
	q := url.Values{"secret": {string(secret)}, "issuer": {s.cfg.Issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	uri := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + s.cfg.Issuer + ":" + u.Name, RawQuery: q.Encode()}
	return otp.NewKeyFromURL(uri.String())
}

// ConfirmTOTP makes the actor's pending TOTP secret count, if code is right for it; the
// code's step counts as used. It returns new recovery codes when this is the user's first
// second factor, to be shown once. A user who had a factor spends a factor proof; every
// other session of the user ends.
func (s *Service) ConfirmTOTP(ctx context.Context, a Actor, code string) ([]string, error) {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return nil, err
	}
	if u.TOTPSecret == nil || u.TOTPConfirmed {
		return nil, invalid("there is no TOTP enrolment to confirm; start one first")
	}
	secret, err := s.cfg.Box.Open("totp", u.TOTPSecret)
	if err != nil {
		return nil, err
	}
	step, ok, err := s.totpStep(secret, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: check the clock of the device and enter the code it shows now", ErrBadTOTP)
	}
	first := !u.HasSecondFactor()
	if !first {
		if err := s.spendFactorProof(ctx, a); err != nil {
			return nil, err
		}
	}
	confirmed, err := s.cfg.Store.ConfirmTOTP(ctx, u.ID, u.TOTPSecret, step)
	if err != nil {
		return nil, err
	}
	if !confirmed {
		return nil, invalid("the TOTP enrolment changed meanwhile; start again")
	}
	s.audit(ctx, a, u.ID, 0, "totp.enroll", "TOTP enrolled for "+u.Name)
	s.mailUser(ctx, u, "tpx: TOTP added to your account", "an authenticator app (TOTP) was added as a second factor of your tpx account.")
	if err := s.endOtherSessions(ctx, a, u); err != nil {
		return nil, err
	}
	if !first {
		return nil, nil
	}
	return s.newRecoveryCodes(ctx, a, u)
}

// LoginTOTP checks the second step of a login, or a confirmation, with a TOTP code:
// single use, ±1 step.
func (s *Service) LoginTOTP(ctx context.Context, name, code string) error {
	u, err := s.user(ctx, name)
	if err != nil {
		return err
	}
	if u.TOTPSecret == nil || !u.TOTPConfirmed {
		return fmt.Errorf("%w: no TOTP is enrolled", ErrBadTOTP)
	}
	return s.CheckTOTP(ctx, name, code)
}

// RemoveTOTP removes the actor's TOTP, unless it is their last second factor, spending a
// factor proof; every other session of the user ends.
func (s *Service) RemoveTOTP(ctx context.Context, a Actor) error {
	u, err := s.authorize(ctx, a)
	if err != nil {
		return err
	}
	if u.WebAuthnCount == 0 {
		// Refused before the proof is spent; the store decides again, atomically.
		return fmt.Errorf("%w: add a security key before removing TOTP, your only second factor", ErrLastFactor)
	}
	if err := s.spendFactorProof(ctx, a); err != nil {
		return err
	}
	err = s.cfg.Store.RemoveTOTP(ctx, u.ID)
	switch {
	case errors.Is(err, store.ErrLastFactor):
		return fmt.Errorf("%w: add a security key before removing TOTP, your only second factor", ErrLastFactor)
	case errors.Is(err, store.ErrNotFound):
		return invalid("there is no TOTP to remove")
	case err != nil:
		return err
	}
	s.audit(ctx, a, u.ID, 0, "totp.remove", "TOTP removed")
	s.mailUser(ctx, u, "tpx: TOTP removed from your account", "the authenticator app (TOTP) was removed from the second factors of your tpx account.")
	return s.endOtherSessions(ctx, a, u)
}

// normalizeRecoveryCode lets a code be typed with or without its dashes and spaces, in any case.
func normalizeRecoveryCode(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
}

// newRecoveryCodes replaces the user's recovery codes with RecoveryCodeCount new ones and
// returns them, grouped for reading; only their hashes are kept.
func (s *Service) newRecoveryCodes(ctx context.Context, a Actor, u store.User) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		raw := randomToken(10) // 80 bits, 16 characters
		codes[i] = raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
		hashes[i] = HashToken(raw)
	}
	if err := s.cfg.Store.ReplaceRecoveryCodes(ctx, u.ID, hashes, s.cfg.Now()); err != nil {
		return nil, err
	}
	s.audit(ctx, a, u.ID, 0, "recovery.generate", fmt.Sprintf("%d recovery codes made; earlier ones no longer work", RecoveryCodeCount))
	return codes, nil
}

// RegenerateRecoveryCodes replaces the actor's recovery codes, spending a factor proof.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, a Actor) ([]string, error) {
	u, err := s.authorize(ctx, a)
	if err != nil {
		return nil, err
	}
	if err := s.spendFactorProof(ctx, a); err != nil {
		return nil, err
	}
	return s.newRecoveryCodes(ctx, a, u)
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, u store.User) (int, error) {
	return s.cfg.Store.RecoveryCodesLeft(ctx, u.ID)
}

// LoginRecoveryCode checks the second step of a login with a recovery code, which is then
// used up; the user is told by email, since a stolen code would be used this way, and
// every other session of the user ends (a's is the one logging in).
func (s *Service) LoginRecoveryCode(ctx context.Context, a Actor, code string) error {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return err
	}
	ok, err := s.cfg.Store.UseRecoveryCode(ctx, u.ID, HashToken(normalizeRecoveryCode(code)), s.cfg.Now())
	if err != nil {
		return err
	}
	if !ok {
		return ErrBadRecoveryCode
	}
	s.audit(ctx, a, u.ID, 0, "recovery.use", "a recovery code was used to log in")
	s.mailUser(ctx, u, "tpx: a recovery code was used", "a recovery code was used to log in to your tpx account. If it was not you, change your password and check your second factors now.")
	return s.endOtherSessions(ctx, a, u)
}
