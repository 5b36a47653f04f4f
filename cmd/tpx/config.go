package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/web"
)

// Config is everything tpx reads from its environment (DESIGN §3). Flags of the same
// names override the environment; secrets come only from the environment or files, so
// they never show in a process list.
type Config struct {
	Addr             string
	PublicURL        string
	Audience         string
	DatabaseURL      string
	DataDir          string
	ConfigFile       string
	CAFile           string
	TokenTTL         time.Duration
	IntrospectSecret string
	SecretKey        string
	SMTPURL          string
	TLSCert          string
	TLSKey           string
	LogFormat        string
	// RateLimit limits exchanges per client address (TPX_RATE_LIMIT, TPX_TRUSTED_PROXIES).
	RateLimit web.RateLimit
	// ExchangeRetention is how long exchange records are kept (TPX_EXCHANGE_RETENTION).
	ExchangeRetention time.Duration

	// Projects says who decides which projects exist (TPX_PROJECTS: open or managed).
	Projects account.ProjectsMode
	// Signup says who may create an account from the web (TPX_SIGNUP: open, invite or
	// closed).
	Signup account.SignupMode

	// Providers are the issuers of TPX_CONFIG; those with enabled: false are Disabled.
	Providers []providers.IssuerConfig
}

// fileConfig is the YAML file named by TPX_CONFIG.
type fileConfig struct {
	Providers []struct {
		Kind   string `yaml:"kind"`
		Issuer string `yaml:"issuer"`
		// Enabled: false is the issuer's kill switch: its tokens are refused with
		// not-enabled, and nothing is fetched from it. Absent means true.
		Enabled *bool `yaml:"enabled"`
	} `yaml:"providers"`
}

// configFlags registers the configuration flags on fs, with defaults from env.
func configFlags(fs *flag.FlagSet, env func(string) string) func() (Config, error) {
	get := func(name, def string) string {
		if v := env(name); v != "" {
			return v
		}
		return def
	}
	var c Config
	var ttl, rateLimit, trustedProxies, retention, projects, signup string
	fs.StringVar(&c.Addr, "addr", get("TPX_ADDR", "127.0.0.1:8080"), "listen address (TPX_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", get("TPX_PUBLIC_URL", ""), "URL clients reach tpx at; issuer of upload tokens (TPX_PUBLIC_URL; default http://ADDR)")
	fs.StringVar(&c.Audience, "audience", get("TPX_AUDIENCE", "tpx"), "audience CI tokens must carry (TPX_AUDIENCE)")
	fs.StringVar(&c.DatabaseURL, "database-url", get("TPX_DATABASE_URL", ""), "postgres://… URL; empty uses embedded SQLite (TPX_DATABASE_URL)")
	fs.StringVar(&c.DataDir, "data-dir", get("TPX_DATA_DIR", "./tpx-data"), "directory of the embedded SQLite store (TPX_DATA_DIR)")
	fs.StringVar(&c.ConfigFile, "config", get("TPX_CONFIG", ""), "YAML file with a providers list (TPX_CONFIG)")
	fs.StringVar(&c.CAFile, "ca-file", get("TPX_CA_FILE", ""), "PEM file of extra roots trusted for issuer HTTPS (TPX_CA_FILE)")
	fs.StringVar(&ttl, "token-ttl", get("TPX_TOKEN_TTL", "15m"), "lifetime of upload tokens (TPX_TOKEN_TTL)")
	fs.StringVar(&c.SMTPURL, "smtp-url", get("TPX_SMTP_URL", ""), "SMTP server for owner notifications (TPX_SMTP_URL)")
	fs.StringVar(&c.TLSCert, "tls-cert", get("TPX_TLS_CERT", ""), "serve HTTPS with this certificate (TPX_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", get("TPX_TLS_KEY", ""), "and this key (TPX_TLS_KEY)")
	fs.StringVar(&c.LogFormat, "log-format", get("TPX_LOG_FORMAT", "text"), "text or json (TPX_LOG_FORMAT)")
	fs.StringVar(&rateLimit, "rate-limit", get("TPX_RATE_LIMIT", ""), "exchanges per client address, as N/DURATION such as 30/1m; empty: no limit (TPX_RATE_LIMIT)")
	fs.StringVar(&trustedProxies, "trusted-proxies", get("TPX_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDRs of balancers whose X-Forwarded-For names the client (TPX_TRUSTED_PROXIES)")
	fs.StringVar(&retention, "exchange-retention", get("TPX_EXCHANGE_RETENTION", "400d"), "how long exchange records are kept, such as 400d or 9600h (TPX_EXCHANGE_RETENTION)")
	fs.StringVar(&projects, "projects", get("TPX_PROJECTS", string(account.ProjectsOpen)), "who decides which projects exist: open (anyone with a second factor takes a free name) or managed (only the index, through the admin API, or the operator) (TPX_PROJECTS)")
	fs.StringVar(&signup, "signup", get("TPX_SIGNUP", string(account.SignupOpen)), "who may sign up on the web: open, invite (an invitation link) or closed (TPX_SIGNUP)")
	return func() (Config, error) {
		var err error
		c.Projects, c.Signup = account.ProjectsMode(projects), account.SignupMode(signup)
		if c.TokenTTL, err = time.ParseDuration(ttl); err != nil {
			return c, fmt.Errorf("TPX_TOKEN_TTL %q is not a duration such as 15m", ttl)
		}
		if c.RateLimit, err = parseRateLimit(rateLimit, trustedProxies); err != nil {
			return c, err
		}
		if c.ExchangeRetention, err = parseDays(retention); err != nil {
			return c, fmt.Errorf("TPX_EXCHANGE_RETENTION %q is not a duration such as 400d or 9600h", retention)
		}
		if c.IntrospectSecret, err = secret(env, "TPX_INTROSPECT_SECRET"); err != nil {
			return c, err
		}
		if c.SecretKey, err = secret(env, "TPX_SECRET_KEY"); err != nil {
			return c, err
		}
		return c, c.validate()
	}
}

// secret reads NAME from the environment or from the file named by NAME_FILE.
func secret(env func(string) string, name string) (string, error) {
	v, file := env(name), env(name+"_FILE")
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("set %s or %s_FILE, not both", name, name)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return v, nil
}

func (c *Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("TPX_ADDR %q is not host:port", c.Addr))
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("TPX_PUBLIC_URL %q must be an absolute http(s) URL without query or fragment", c.PublicURL))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("TPX_AUDIENCE must not be empty"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("TPX_DATABASE_URL must start with postgres:// (leave it empty for the embedded store)"))
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > time.Hour {
		errs = append(errs, fmt.Errorf("TPX_TOKEN_TTL %s must be between 1m and 1h: upload tokens are meant to be short-lived", c.TokenTTL))
	}
	if c.SecretKey != "" && len(c.SecretKey) < secretbox.MinSecretLen {
		errs = append(errs, fmt.Errorf("TPX_SECRET_KEY has %d characters; it needs at least %d", len(c.SecretKey), secretbox.MinSecretLen))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("set both TPX_TLS_CERT and TPX_TLS_KEY, or neither"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("TPX_LOG_FORMAT %q must be text or json", c.LogFormat))
	}
	if c.TLSCert != "" && c.TLSKey != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			errs = append(errs, fmt.Errorf("TPX_TLS_CERT and TPX_TLS_KEY: %w", err))
		}
	}
	if c.Projects != account.ProjectsOpen && c.Projects != account.ProjectsManaged {
		errs = append(errs, fmt.Errorf("TPX_PROJECTS %q must be open or managed", c.Projects))
	}
	if c.Signup != account.SignupOpen && c.Signup != account.SignupInvite && c.Signup != account.SignupClosed {
		errs = append(errs, fmt.Errorf("TPX_SIGNUP %q must be open, invite or closed", c.Signup))
	}
	if c.ExchangeRetention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("TPX_EXCHANGE_RETENTION %s must be at least a day: exchange records are the audit trail of every upload token", c.ExchangeRetention))
	}
	if c.ConfigFile != "" {
		if err := c.readFile(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.CAFile != "" {
		if _, err := c.rootCAs(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) readFile() error {
	b, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		return fmt.Errorf("TPX_CONFIG: %w", err)
	}
	var f fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("TPX_CONFIG %s: %w", c.ConfigFile, err)
	}
	for i, p := range f.Providers {
		if _, ok := policy.Lookup(policy.Kind(p.Kind)); !ok {
			return fmt.Errorf("TPX_CONFIG %s: providers[%d].kind %q must be %s", c.ConfigFile, i, p.Kind, policy.KindNames())
		}
		c.Providers = append(c.Providers, providers.IssuerConfig{Kind: policy.Kind(p.Kind), Issuer: p.Issuer, Disabled: p.Enabled != nil && !*p.Enabled})
	}
	if len(c.Providers) > 0 && !slices.ContainsFunc(c.Providers, func(p providers.IssuerConfig) bool { return !p.Disabled }) {
		// An empty list means the default issuers, so this cannot be served as "none".
		return fmt.Errorf("TPX_CONFIG %s: every provider has enabled: false; with nothing to exchange, stop tpx instead", c.ConfigFile)
	}
	return nil
}

// parseRateLimit reads TPX_RATE_LIMIT ("30/1m"; empty or "0" for none) and
// TPX_TRUSTED_PROXIES (addresses and CIDRs, comma-separated).
func parseRateLimit(limit, proxies string) (web.RateLimit, error) {
	var rl web.RateLimit
	for _, f := range strings.Split(proxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return rl, fmt.Errorf("TPX_TRUSTED_PROXIES: %q is neither an address nor a CIDR such as 10.0.0.0/8", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		rl.TrustedProxies = append(rl.TrustedProxies, p.Masked())
	}
	if limit == "" || limit == "0" {
		return rl, nil
	}
	n, per, ok := strings.Cut(limit, "/")
	requests, err := strconv.Atoi(n)
	if !ok || err != nil || requests <= 0 {
		return rl, fmt.Errorf("TPX_RATE_LIMIT %q must be REQUESTS/DURATION such as 30/1m, or empty for no limit", limit)
	}
	d, err := time.ParseDuration(per)
	if err != nil && !strings.ContainsAny(per, "0123456789") {
		d, err = time.ParseDuration("1" + per) // "30/m" reads as "30/1m"
	}
	if err != nil || d < time.Second || d > 24*time.Hour {
		return rl, fmt.Errorf("TPX_RATE_LIMIT %q: the duration after / must be between 1s and 24h, such as 1m", limit)
	}
	rl.Requests, rl.Per = requests, d
	return rl, nil
}

// parseDays reads a Go duration, or a whole number of days such as "400d", which Go
// durations do not have.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, errors.New("not a number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// rootCAs returns the system roots plus TPX_CA_FILE, or nil for the system roots alone.
func (c *Config) rootCAs() (*x509.CertPool, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("TPX_CA_FILE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TPX_CA_FILE %s holds no PEM certificate", c.CAFile)
	}
	return pool, nil
}
