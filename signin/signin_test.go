package signin

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	good := Config{Issuer: "https://id.example.org", ClientID: "tpx", ClientSecret: "s"}
	rp, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	if rp.Name() != "the package index" || rp.Issuer() != good.Issuer {
		t.Fatalf("defaults: name %q, issuer %q", rp.Name(), rp.Issuer())
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"Every value RFC 8176 gives for a second factor may count", func(c *Config) { c.AMR = SecondFactorAMR }, ""},
		{"A password never counts as a second factor", func(c *Config) { c.AMR = []string{"otp", "pwd"} }, `"pwd" is not a second factor`},
		{"A PIN never counts as a second factor", func(c *Config) { c.AMR = []string{"pin"} }, `"pin" is not a second factor`},
		{"A text message never counts as a second factor", func(c *Config) { c.AMR = []string{"sms"} }, `"sms" is not a second factor`},
		{"An unknown value never counts", func(c *Config) { c.AMR = []string{"MFA"} }, `"MFA" is not a second factor`},
		{"An issuer with a query is refused", func(c *Config) { c.Issuer = "https://id.example.org/?x=1" }, "TPX_OIDC_ISSUER"},
		{"An issuer over plain http elsewhere than loopback is refused", func(c *Config) { c.Issuer = "http://id.example.org" }, "TPX_OIDC_ISSUER"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			_, err := New(cfg)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
