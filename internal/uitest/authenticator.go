package uitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/url"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator is a software security key: one P-256 credential, "none" attestation,
// user presence and verification always given, and a signature counter that goes up by
// one per login.
type Authenticator struct {
	origin     string
	key        *ecdsa.PrivateKey
	id         []byte
	userHandle []byte
	// Counter is the signature counter; a test may set it back to act as a clone.
	Counter uint32
}

// NewAuthenticator returns an authenticator that browses from origin (scheme://host:port).
func NewAuthenticator(origin string) (*Authenticator, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &Authenticator{origin: origin, key: key, id: id}, nil
}

var b64 = base64.RawURLEncoding

// options is the part of the creation and request options the authenticator reads.
type options struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) rpID(o options) (string, error) {
	id := o.RP.ID
	if id == "" {
		id = o.RPID
	}
	if id == "" {
		u, err := url.Parse(a.origin)
		if err != nil {
			return "", err
		}
		id = u.Hostname()
	}
	return id, nil
}

// authData is the authenticator data: RP ID hash, flags, counter, and more.
func authData(rpID string, flags byte, counter uint32, more []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, counter)
	return append(out, more...)
}

// Create answers the options of navigator.credentials.create (JSON) with the JSON of the
// PublicKeyCredential a browser would send.
func (a *Authenticator) Create(optionsJSON []byte) ([]byte, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, err
	}
	rpID, err := a.rpID(o)
	if err != nil {
		return nil, err
	}
	if a.userHandle, err = b64.DecodeString(o.User.ID); err != nil {
		return nil, err
	}
	// The uncompressed point: 0x04, then X and Y of 32 bytes each.
	point, err := a.key.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	x, y := point[1:33], point[33:]
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.id)))
	attested = append(append(attested, a.id...), cose...)
	// Flags: user present (0x01), user verified (0x04), attested credential data (0x40).
	ad := authData(rpID, 0x45, a.Counter, attested)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.Challenge)),
			"attestationObject": b64.EncodeToString(att),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Get answers the options of navigator.credentials.get (JSON), counting up first.
func (a *Authenticator) Get(optionsJSON []byte) ([]byte, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, err
	}
	if a.userHandle == nil {
		return nil, errors.New("uitest: Get before Create")
	}
	rpID, err := a.rpID(o)
	if err != nil {
		return nil, err
	}
	a.Counter++
	ad := authData(rpID, 0x05, a.Counter, nil)
	cd := a.clientData("webauthn.get", o.Challenge)
	sum := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.userHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// WithOrigin returns a copy of the authenticator, the same key and counter, that browses
// from origin: what a phishing site relaying the challenge would get.
func (a *Authenticator) WithOrigin(origin string) *Authenticator {
	b := *a
	b.origin = origin
	return &b
}
