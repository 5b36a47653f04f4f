package store

import "time"

// SessionStage says how far a browser session got through logging in.
type SessionStage string

const (
	// StageSecondFactor: the password was right and the user's second factor is due.
	StageSecondFactor SessionStage = "second-factor"
	// StageFull: logged in.
	StageFull SessionStage = "full"
)

// SessionFactor is the strongest proof of identity a session passed.
type SessionFactor string

const (
	FactorPassword SessionFactor = "password" // the password alone: a user without a second factor
	FactorTOTP     SessionFactor = "totp"
	FactorWebAuthn SessionFactor = "webauthn"
	FactorRecovery SessionFactor = "recovery"
	// FactorIndex: a sign-in through the index's OpenID provider, a first factor like
	// the password.
	FactorIndex SessionFactor = "index"
	// FactorIndexMFA: such a sign-in whose amr claim named a real second factor, when
	// the operator chose to count it.
	FactorIndexMFA SessionFactor = "index-mfa"
)

// SecondFactor reports whether f is a proof beyond the password.
func (f SessionFactor) SecondFactor() bool {
	return f == FactorTOTP || f == FactorWebAuthn || f == FactorRecovery || f == FactorIndexMFA
}

// Session is a browser session. ID is the SHA-256 (hex) of the cookie's value, never the
// value itself.
type Session struct {
	ID     string
	UserID int64
	Stage  SessionStage
	// Factor is what the session passed; a password-only session of a user who has a
	// second factor is never a full session.
	Factor    SessionFactor
	CreatedAt time.Time
	// AuthenticatedAt is the last time the user proved who they are with Factor.
	AuthenticatedAt time.Time
	// FactorProofAt is the last second-factor proof not yet spent on a change of second
	// factors (SpendFactorProof); nil when there is none.
	FactorProofAt *time.Time
	ExpiresAt     time.Time
	// LastSeenAt, Address and UserAgent are what the user sees of their sessions.
	LastSeenAt time.Time
	Address    string
	UserAgent  string
}
