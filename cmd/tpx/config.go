package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
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

	Providers []providers.IssuerConfig
}

// fileConfig is the YAML file named by TPX_CONFIG.
type fileConfig struct {
	Providers []struct {
		Kind   string `yaml:"kind"`
		Issuer string `yaml:"issuer"`
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
	var ttl string
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
	return func() (Config, error) {
		var err error
		if c.TokenTTL, err = time.ParseDuration(ttl); err != nil {
			return c, fmt.Errorf("TPX_TOKEN_TTL %q is not a duration such as 15m", ttl)
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
		if p.Kind != string(policy.GitHub) && p.Kind != string(policy.GitLab) {
			return fmt.Errorf("TPX_CONFIG %s: providers[%d].kind %q must be github or gitlab", c.ConfigFile, i, p.Kind)
		}
		c.Providers = append(c.Providers, providers.IssuerConfig{Kind: policy.Kind(p.Kind), Issuer: p.Issuer})
	}
	return nil
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
