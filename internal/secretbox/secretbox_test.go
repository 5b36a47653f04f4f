package secretbox

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSecretbox(t *testing.T) {
	secret := strings.Repeat("s", MinSecretLen)
	box, err := New(secret)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("-----BEGIN PRIVATE KEY----- the key")
	sealed, err := box.Seal("signing-key", plain)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a sealed value does not contain the plain text and opens with the same key", func(t *testing.T) {
		if bytes.Contains(sealed, plain) || IsPlain(sealed) {
			t.Fatalf("sealed value holds the plain text: %q", sealed)
		}
		got, err := box.Open("signing-key", sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	t.Run("sealing twice gives different bytes", func(t *testing.T) {
		again, _ := box.Seal("signing-key", plain)
		if bytes.Equal(again, sealed) {
			t.Fatal("two seals of one value are equal: the nonce is not random")
		}
	})
	t.Run("a value sealed for one purpose does not open as another", func(t *testing.T) {
		if _, err := box.Open("totp", sealed); err == nil {
			t.Fatal("opened a signing key as a TOTP secret")
		}
	})
	t.Run("another secret key does not open it", func(t *testing.T) {
		other, _ := New(strings.Repeat("o", MinSecretLen))
		if _, err := other.Open("signing-key", sealed); err == nil {
			t.Fatal("opened with the wrong key")
		}
	})
	t.Run("an altered value does not open", func(t *testing.T) {
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := box.Open("signing-key", bad); err == nil {
			t.Fatal("opened an altered value")
		}
	})
	t.Run("a truncated value is refused", func(t *testing.T) {
		if _, err := box.Open("signing-key", sealed[:len(sealedPrefix)+3]); err == nil {
			t.Fatal("opened a truncated value")
		}
	})
	t.Run("without a secret key values are stored marked as plain text and still open later with one", func(t *testing.T) {
		plainBox, _ := New("")
		if plainBox.Encrypts() {
			t.Fatal("a box without a secret says it encrypts")
		}
		stored, _ := plainBox.Seal("totp", []byte("JBSWY3DPEHPK3PXP"))
		if !IsPlain(stored) {
			t.Fatalf("not marked plain: %q", stored)
		}
		got, err := box.Open("totp", stored)
		if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	t.Run("a sealed value read without the secret key says which variable to set", func(t *testing.T) {
		plainBox, _ := New("")
		if _, err := plainBox.Open("signing-key", sealed); !errors.Is(err, ErrNoKey) {
			t.Fatalf("err = %v, want ErrNoKey", err)
		}
	})
	t.Run("a short secret key is refused", func(t *testing.T) {
		if _, err := New("short"); err == nil {
			t.Fatal("accepted a 5-character secret key")
		}
	})
	t.Run("a value of unknown format is refused", func(t *testing.T) {
		if _, err := box.Open("totp", []byte("garbage")); err == nil {
			t.Fatal("opened garbage")
		}
	})
}
