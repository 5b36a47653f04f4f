// Package secretbox seals secrets stored at rest (upload-token signing keys, TOTP seeds)
// with AES-256-GCM under keys derived by HKDF-SHA256 from the operator's TPX_SECRET_KEY,
// one key per purpose. Without a secret key it stores values marked as plain text, so a
// later start with a key can still read them and the operator can be warned.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinSecretLen is the shortest TPX_SECRET_KEY accepted.
const MinSecretLen = 32

var (
	sealedPrefix = []byte("tpxs1:")
	plainPrefix  = []byte("plain:")
)

// ErrNoKey is returned when a sealed value is read without the secret key that sealed it.
var ErrNoKey = errors.New("value is encrypted at rest; set TPX_SECRET_KEY to the key it was sealed with")

// Box seals and opens values. The zero value is not usable; use New.
type Box struct {
	secret []byte // nil: values are stored marked as plain text
}

// New returns a Box for secret; an empty secret gives a Box that stores plain text.
func New(secret string) (*Box, error) {
	if secret == "" {
		return &Box{}, nil
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("secret key is %d characters; it must be at least %d", len(secret), MinSecretLen)
	}
	return &Box{secret: []byte(secret)}, nil
}

// Encrypts reports whether values are encrypted (a secret key is set).
func (b *Box) Encrypts() bool { return b.secret != nil }

func (b *Box) aead(purpose string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, b.secret, nil, "tpx secretbox "+purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal protects plain for purpose ("signing-key", "totp"); the purpose is bound into the
// ciphertext, so a value sealed for one purpose cannot be opened as another.
func (b *Box) Seal(purpose string, plain []byte) ([]byte, error) {
	if b.secret == nil {
		return append(bytes.Clone(plainPrefix), plain...), nil
	}
	aead, err := b.aead(purpose)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(sealedPrefix), len(sealedPrefix)+aead.NonceSize()+len(plain)+aead.Overhead())
	copy(out, sealedPrefix)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, []byte(purpose)), nil
}

// Open returns the plain value of sealed. Values stored as plain text open with or
// without a secret key.
func (b *Box) Open(purpose string, sealed []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(sealed, plainPrefix):
		return bytes.Clone(sealed[len(plainPrefix):]), nil
	case !bytes.HasPrefix(sealed, sealedPrefix):
		return nil, errors.New("stored secret has an unknown format")
	case b.secret == nil:
		return nil, ErrNoKey
	}
	aead, err := b.aead(purpose)
	if err != nil {
		return nil, err
	}
	rest := sealed[len(sealedPrefix):]
	if len(rest) < aead.NonceSize() {
		return nil, errors.New("stored secret is truncated")
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, errors.New("stored secret does not open with this TPX_SECRET_KEY (wrong key, or the value was altered)")
	}
	return plain, nil
}

// IsPlain reports whether sealed was stored as plain text.
func IsPlain(sealed []byte) bool { return bytes.HasPrefix(sealed, plainPrefix) }
