package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
)

// TestSignInSettings: every combination of the sign-in settings the README names is read,
// or refused with a sentence naming the setting.
func TestSignInSettings(t *testing.T) {
	t.Parallel()
	secretFile := writeTestFile(t, "client-secret", "a secret from a file\n")
	for _, c := range []struct {
		name string
		set  map[string]string
		want string // an error mentioning this, or "" for none
		amr  []string
		off  bool
		sec  string
	}{
		{"No provider: password login only", nil, "", nil, false, ""},
		{"A provider with id and secret, beside passwords", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s"}, "", nil, false, "s"},
		{"The client secret from a file", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET_FILE": secretFile}, "", nil, false, "a secret from a file"},
		{"The client secret and its file both", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s", "TPX_OIDC_CLIENT_SECRET_FILE": secretFile}, "not both", nil, false, ""},
		{"A provider only, password login off", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s", "TPX_PASSWORD_LOGIN": "off"}, "", nil, true, "s"},
		{"Second-factor amr values counted", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s", "TPX_OIDC_AMR_COUNTS": "mfa, hwk,otp"}, "", []string{"mfa", "hwk", "otp"}, false, "s"},
		{"pwd never counts as a second factor", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s", "TPX_OIDC_AMR_COUNTS": "mfa,pwd"}, `"pwd" is not a second factor`, nil, false, ""},
		{"kba never counts as a second factor", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s", "TPX_OIDC_AMR_COUNTS": "kba"}, `"kba" is not a second factor`, nil, false, ""},
		{"sms never counts as a second factor", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s", "TPX_OIDC_AMR_COUNTS": "sms"}, `"sms" is not a second factor`, nil, false, ""},
		{"Password login off without a provider", map[string]string{"TPX_PASSWORD_LOGIN": "off"}, "TPX_PASSWORD_LOGIN=off needs TPX_OIDC_ISSUER", nil, false, ""},
		{"Password login neither on nor off", map[string]string{"TPX_PASSWORD_LOGIN": "maybe"}, "TPX_PASSWORD_LOGIN", nil, false, ""},
		{"A client id without a provider", map[string]string{"TPX_OIDC_CLIENT_ID": "tpx"}, "need TPX_OIDC_ISSUER", nil, false, ""},
		{"A provider without a client id", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_SECRET": "s"}, "TPX_OIDC_CLIENT_ID is needed", nil, false, ""},
		{"A provider without a client secret", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx"}, "TPX_OIDC_CLIENT_SECRET", nil, false, ""},
		{"A provider over plain http elsewhere than loopback", map[string]string{"TPX_OIDC_ISSUER": "http://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s"}, "must be an https URL", nil, false, ""},
		{"A provider over plain http on loopback", map[string]string{"TPX_OIDC_ISSUER": "http://127.0.0.1:5556", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "s"}, "", nil, false, "s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.set {
				env[k] = v
			}
			cfg, err := loadConfig(t, env)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one mentioning %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.OIDC.AMR, c.amr) || cfg.PasswordLoginOff != c.off || cfg.OIDC.ClientSecret != c.sec {
				t.Fatalf("read amr %v, password login off %v, secret %q", cfg.OIDC.AMR, cfg.PasswordLoginOff, cfg.OIDC.ClientSecret)
			}
		})
	}
}

func TestServeLogsTheSignInMode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"Serve says passwords alone sign in without a provider", nil, `"msg":"sign-in: password only`},
		{"Serve says the provider and passwords sign in", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "the client secret"},
			`"msg":"sign-in: password, or through the package index's OpenID provider","oidc_issuer":"https://id.example.org"`},
		{"Serve says only the provider signs in", map[string]string{"TPX_OIDC_ISSUER": "https://id.example.org", "TPX_OIDC_CLIENT_ID": "tpx", "TPX_OIDC_CLIENT_SECRET": "the client secret", "TPX_PASSWORD_LOGIN": "off", "TPX_OIDC_AMR_COUNTS": "mfa"},
			`"msg":"sign-in: only through the package index's OpenID provider; password login is off","oidc_issuer":"https://id.example.org","amr_counts":"mfa"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := embeddedEnv(t, oidctest.New(t))
			for k, v := range c.set {
				env[k] = v
			}
			p := serveInProcess(t, env, "http")
			logs := p.logs()
			if !strings.Contains(logs, c.want) {
				t.Fatalf("serve logged:\n%s\nwant %s", logs, c.want)
			}
			if strings.Contains(logs, "the client secret") {
				t.Fatal("the client secret reached the log")
			}
		})
	}
}
