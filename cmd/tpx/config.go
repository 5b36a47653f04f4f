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
	"github.com/tpx-dev/tpx/protocol"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/verify"
	"github.com/tpx-dev/tpx/web"
)

// Config is everything tpx reads from its environment (README.md, "Configuration", lists
// it all). Flags of the same
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

	// OIDC is sign-in through the index's OpenID provider (TPX_OIDC_…); an empty Issuer
	// offers none. Box, RedirectURL, HTTPClient and Now are wired by build.
	OIDC signin.Config
	// PasswordLoginOff says users may not log in with a password (TPX_PASSWORD_LOGIN=off).
	PasswordLoginOff bool

	// SecretScanningKeysURL publishes the keys of GitHub's secret-scanning reports
	// (TPX_SECRET_SCANNING_KEYS_URL); empty serves no report route.
	SecretScanningKeysURL string

	// Providers are the issuers of TPX_CONFIG; those with enabled: false are Disabled.
	Providers []providers.IssuerConfig

	// Protocols are the client protocols served (TPX_PROTOCOLS).
	Protocols []protocol.Protocol
	// Names is the index's naming rule (TPX_NAMES; by default the protocols' index's).
	Names verify.Names
}

// minIntrospectSecret is the shortest TPX_INTROSPECT_SECRET: the route answers anyone
// who presents it, so it must be too long to guess, however slowly guesses are allowed.
const minIntrospectSecret = 32

// settingGroup says which commands read a setting, so that each command's help lists
// only what it uses.
type settingGroup int

const (
	// storeSettings are read by every command that opens the store.
	storeSettings settingGroup = 1 << iota
	// issuerSettings say which CI issuers tpx trusts: serve, and publisher add, which
	// refuses a publisher for an issuer that is not trusted.
	issuerSettings
	// serveSettings are read only by the service.
	serveSettings

	allSettings = storeSettings | issuerSettings | serveSettings
)

// setting is one configuration value: a TPX_ variable and the flag of the same name.
type setting struct {
	flag, env, def, help string
	group                settingGroup
}

var settings = []setting{
	{"addr", "TPX_ADDR", "127.0.0.1:8080", "listen address", serveSettings},
	{"public-url", "TPX_PUBLIC_URL", "", "URL clients reach tpx at; issuer of upload tokens (default http://ADDR)", serveSettings},
	{"audience", "TPX_AUDIENCE", "", "audience CI tokens must carry (default tpx: and the public URL's host, such as tpx:tpx.example.org)", serveSettings | issuerSettings},
	{"database-url", "TPX_DATABASE_URL", "", "postgres://… URL; empty uses embedded SQLite", storeSettings},
	{"data-dir", "TPX_DATA_DIR", "./tpx-data", "directory of the embedded SQLite store", storeSettings},
	{"config", "TPX_CONFIG", "", "YAML file with a providers list", issuerSettings},
	{"ca-file", "TPX_CA_FILE", "", "PEM file of extra roots trusted for issuer HTTPS", serveSettings},
	{"token-ttl", "TPX_TOKEN_TTL", "15m", "lifetime of upload tokens", serveSettings},
	{"smtp-url", "TPX_SMTP_URL", "", "SMTP server for owner notifications", serveSettings},
	{"tls-cert", "TPX_TLS_CERT", "", "serve HTTPS with this certificate", serveSettings},
	{"tls-key", "TPX_TLS_KEY", "", "and this key", serveSettings},
	{"log-format", "TPX_LOG_FORMAT", "text", "text or json", storeSettings | serveSettings},
	{"rate-limit", "TPX_RATE_LIMIT", "", "exchanges per client address, as N/DURATION such as 30/1m; empty: no limit", serveSettings},
	{"trusted-proxies", "TPX_TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs of balancers whose X-Forwarded-For names the client", serveSettings},
	{"exchange-retention", "TPX_EXCHANGE_RETENTION", "400d", "how long exchange records are kept, such as 400d or 9600h", serveSettings},
	{"projects", "TPX_PROJECTS", string(account.ProjectsOpen), "who decides which projects exist: open (anyone with a second factor takes a free name) or managed (only the index, through the admin API, or the operator)", storeSettings | serveSettings},
	{"signup", "TPX_SIGNUP", string(account.SignupOpen), "who may sign up on the web: open, invite (an invitation link) or closed", serveSettings},
	{"oidc-issuer", "TPX_OIDC_ISSUER", "", "OpenID provider of the package index that owners sign in through; empty: none", serveSettings},
	{"oidc-client-id", "TPX_OIDC_CLIENT_ID", "", "client id tpx is registered under at that provider", serveSettings},
	{"oidc-name", "TPX_OIDC_NAME", "", "name of the provider on the login page's button (default: the package index)", serveSettings},
	{"oidc-amr-counts", "TPX_OIDC_AMR_COUNTS", "", "comma-separated amr values of the provider's ID token that count as tpx's second factor at sign-in, such as mfa,otp,hwk; empty: none", serveSettings},
	{"password-login", "TPX_PASSWORD_LOGIN", "on", "on, or off to let users sign in only through the provider", serveSettings},
	{"protocols", "TPX_PROTOCOLS", string(protocol.PyPI), "client protocols served, comma-separated: pypi, npm, cargo", serveSettings},
	{"names", "TPX_NAMES", "", "the index's naming rule: pypi, npm or cargo (default: npm's when TPX_PROTOCOLS has npm, cargo's when it has cargo, else PyPI's)", storeSettings | serveSettings},
	{"secret-scanning-keys-url", "TPX_SECRET_SCANNING_KEYS_URL", web.GitHubSecretScanningKeys, "keys that sign GitHub's secret-scanning reports of leaked upload tokens; empty: no report route", serveSettings},
}

// secretSettings are read only from the environment (or NAME_FILE), never from flags, so
// that they do not show in a process list.
var secretSettings = []struct {
	env   string
	group settingGroup
}{
	{"TPX_SECRET_KEY", storeSettings | serveSettings},
	{"TPX_INTROSPECT_SECRET", serveSettings},
	{"TPX_OIDC_CLIENT_SECRET", serveSettings},
}

// isSetting reports whether name is the flag of a configuration setting rather than one
// of a command's own flags.
func isSetting(name string) bool {
	return slices.ContainsFunc(settings, func(s setting) bool { return s.flag == name })
}

// configFlags registers on fs the flags of the settings in groups, with defaults from
// env. Settings outside groups are still read from env, so every command sees the same
// configuration as serve; they just have no flag there.
func configFlags(fs *flag.FlagSet, env func(string) string, groups settingGroup) func() (Config, error) {
	values := make(map[string]*string, len(settings))
	for _, s := range settings {
		v := s.def
		if e := env(s.env); e != "" {
			v = e
		}
		values[s.env] = &v
		if s.group&groups != 0 {
			fs.StringVar(values[s.env], s.flag, v, s.help+" ("+s.env+")")
		}
	}
	return func() (Config, error) {
		get := func(name string) string { return *values[name] }
		c := Config{
			Addr: get("TPX_ADDR"), PublicURL: get("TPX_PUBLIC_URL"), Audience: get("TPX_AUDIENCE"),
			DatabaseURL: get("TPX_DATABASE_URL"), DataDir: get("TPX_DATA_DIR"), ConfigFile: get("TPX_CONFIG"),
			CAFile: get("TPX_CA_FILE"), SMTPURL: get("TPX_SMTP_URL"), TLSCert: get("TPX_TLS_CERT"),
			TLSKey: get("TPX_TLS_KEY"), LogFormat: get("TPX_LOG_FORMAT"),
			Projects: account.ProjectsMode(get("TPX_PROJECTS")), Signup: account.SignupMode(get("TPX_SIGNUP")),
			SecretScanningKeysURL: get("TPX_SECRET_SCANNING_KEYS_URL"),
		}
		var err error
		ttl := get("TPX_TOKEN_TTL")
		if c.TokenTTL, err = time.ParseDuration(ttl); err != nil {
			return c, fmt.Errorf("TPX_TOKEN_TTL %q is not a duration such as 15m", ttl)
		}
		if c.RateLimit, err = parseRateLimit(get("TPX_RATE_LIMIT"), get("TPX_TRUSTED_PROXIES")); err != nil {
			return c, err
		}
		retention := get("TPX_EXCHANGE_RETENTION")
		if c.ExchangeRetention, err = parseDays(retention); err != nil {
			return c, fmt.Errorf("TPX_EXCHANGE_RETENTION %q is not a duration such as 400d or 9600h", retention)
		}
		if c.IntrospectSecret, err = secret(env, "TPX_INTROSPECT_SECRET"); err != nil {
			return c, err
		}
		if c.SecretKey, err = secret(env, "TPX_SECRET_KEY"); err != nil {
			return c, err
		}
		c.OIDC = signin.Config{Issuer: get("TPX_OIDC_ISSUER"), ClientID: get("TPX_OIDC_CLIENT_ID"), Name: get("TPX_OIDC_NAME")}
		for _, a := range strings.Split(get("TPX_OIDC_AMR_COUNTS"), ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.OIDC.AMR = append(c.OIDC.AMR, a)
			}
		}
		if c.OIDC.ClientSecret, err = secret(env, "TPX_OIDC_CLIENT_SECRET"); err != nil {
			return c, err
		}
		switch pl := get("TPX_PASSWORD_LOGIN"); pl {
		case "on":
		case "off":
			c.PasswordLoginOff = true
		default:
			return c, fmt.Errorf("TPX_PASSWORD_LOGIN %q must be on or off", pl)
		}
		if c.Protocols, c.Names, err = parseProtocols(get("TPX_PROTOCOLS"), get("TPX_NAMES")); err != nil {
			return c, err
		}
		return c, c.validate()
	}
}

// parseProtocols reads TPX_PROTOCOLS and TPX_NAMES; the naming rule defaults to that of
// the index the protocols speak to.
func parseProtocols(list, names string) ([]protocol.Protocol, verify.Names, error) {
	ps, err := protocol.Parse(list)
	if err != nil {
		return nil, "", fmt.Errorf("TPX_PROTOCOLS: %v", err)
	}
	if names != "" {
		n, err := verify.ParseNames(names)
		if err != nil {
			return nil, "", fmt.Errorf("TPX_NAMES: %v", err)
		}
		return ps, n, nil
	}
	n, err := protocol.Names(ps)
	if err != nil {
		return nil, "", fmt.Errorf("TPX_PROTOCOLS: %v", err)
	}
	return ps, n, nil
}

// protocolRoutes are the protocols served, each with the audience its clients derive
// from the index's URL, TPX_PUBLIC_URL.
func (c Config) protocolRoutes() []web.Protocol {
	public, _ := url.Parse(c.PublicURL)
	out := make([]web.Protocol, len(c.Protocols))
	for i, p := range c.Protocols {
		out[i] = web.Protocol{Protocol: p, Audience: p.Audience(public, c.Audience)}
	}
	return out
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

// deploymentAudience is the default TPX_AUDIENCE: "tpx:" and the public URL's host, port
// and path, such as tpx:tpx.example.org or tpx:example.org/tpx. A CI token is requested
// for one audience, so two deployments with different URLs (staging and production,
// two indexes) never accept each other's tokens, as a single word for every
// installation would. Plain http without a port says :80, so that it differs from https
// on the same host.
func deploymentAudience(public *url.URL) string {
	host := strings.ToLower(public.Host)
	if public.Scheme == "http" && public.Port() == "" {
		host += ":80"
	}
	return "tpx:" + host + strings.TrimRight(public.EscapedPath(), "/")
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
	} else if c.Audience == "" {
		c.Audience = deploymentAudience(u)
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
	if u := c.SecretScanningKeysURL; u != "" {
		if err := httpsOrLoopback(u); err != nil {
			errs = append(errs, fmt.Errorf("TPX_SECRET_SCANNING_KEYS_URL %q: %v", u, err))
		}
	}
	if c.IntrospectSecret != "" && len(c.IntrospectSecret) < minIntrospectSecret {
		errs = append(errs, fmt.Errorf("TPX_INTROSPECT_SECRET has %d characters; it needs at least %d, such as the output of openssl rand -hex 32", len(c.IntrospectSecret), minIntrospectSecret))
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
	switch {
	case c.OIDC.Issuer != "":
		if err := c.OIDC.Validate(); err != nil {
			errs = append(errs, err)
		}
	case c.OIDC.ClientID != "" || c.OIDC.ClientSecret != "" || len(c.OIDC.AMR) > 0:
		errs = append(errs, errors.New("TPX_OIDC_CLIENT_ID, TPX_OIDC_CLIENT_SECRET and TPX_OIDC_AMR_COUNTS need TPX_OIDC_ISSUER"))
	case c.PasswordLoginOff:
		errs = append(errs, errors.New("TPX_PASSWORD_LOGIN=off needs TPX_OIDC_ISSUER: without a password or a provider nobody could sign in"))
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

// readFile reads TPX_CONFIG. It walks the YAML nodes itself rather than decoding into a
// struct, so that every error names the line and the field as the operator wrote them
// (providers[1].enabled), never a Go type.
func (c *Config) readFile() error {
	b, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		return fmt.Errorf("TPX_CONFIG: %w", err)
	}
	ps, err := parseFileConfig(b)
	if err != nil {
		return fmt.Errorf("TPX_CONFIG %s: %w", c.ConfigFile, err)
	}
	c.Providers = ps
	return nil
}

// parseFileConfig reads the TPX_CONFIG document. A document without a providers key
// means the default issuers; a providers key that lists no issuer is an error, since
// an operator who wrote it meant something other than the defaults.
func parseFileConfig(b []byte) ([]providers.IssuerConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the file must be a mapping with a providers key", root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if key.Value != "providers" {
			return nil, fmt.Errorf("line %d: unknown field %s (the file has only providers)", key.Line, key.Value)
		}
		list = value
	}
	if list == nil {
		return nil, nil
	}
	empty := list.Kind == yaml.ScalarNode && list.Tag == "!!null" // "providers:" alone
	if list.Kind != yaml.SequenceNode && !empty {
		return nil, fmt.Errorf("line %d: providers must be a list of {kind, issuer}", list.Line)
	}
	if empty || len(list.Content) == 0 {
		return nil, fmt.Errorf("line %d: providers lists no issuer; remove the key to trust the default issuers, or list the issuers to trust", list.Line)
	}
	var ps []providers.IssuerConfig
	for i, item := range list.Content {
		p, err := parseProvider(item)
		if err != nil {
			return nil, fmt.Errorf("line %d: providers[%d]%w", item.Line, i, err)
		}
		ps = append(ps, p)
	}
	if !slices.ContainsFunc(ps, func(p providers.IssuerConfig) bool { return !p.Disabled }) {
		return nil, errors.New("every provider has enabled: false; with nothing to exchange, stop tpx instead")
	}
	return ps, nil
}

// parseProvider reads one entry of providers; its errors continue "providers[i]".
func parseProvider(n *yaml.Node) (providers.IssuerConfig, error) {
	var p providers.IssuerConfig
	if n.Kind != yaml.MappingNode {
		return p, errors.New(" must be a mapping such as {kind: github, issuer: https://…}")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if seen[key.Value] {
			return p, fmt.Errorf(".%s is given twice", key.Value)
		}
		seen[key.Value] = true
		if value.Kind != yaml.ScalarNode {
			return p, fmt.Errorf(".%s must be a single value", key.Value)
		}
		switch key.Value {
		case "kind":
			if _, ok := policy.Lookup(policy.Kind(value.Value)); !ok {
				return p, fmt.Errorf(".kind %q must be %s", value.Value, policy.KindNames())
			}
			p.Kind = policy.Kind(value.Value)
		case "issuer":
			p.Issuer = value.Value
		case "enabled":
			var on bool
			if value.Decode(&on) != nil {
				return p, fmt.Errorf(".enabled %q must be true or false", value.Value)
			}
			p.Disabled = !on
		default:
			return p, fmt.Errorf(": unknown field %s (known: kind, issuer, enabled)", key.Value)
		}
	}
	switch {
	case p.Kind == "":
		return p, fmt.Errorf(".kind is missing (%s)", policy.KindNames())
	case p.Issuer == "":
		return p, errors.New(".issuer is missing")
	}
	return p, nil
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

// httpsOrLoopback admits an https URL, or plain http to a loopback address: keys fetched
// over plain http from anywhere else could be replaced on the way.
func httpsOrLoopback(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return errors.New("not an absolute URL")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		if ip, err := netip.ParseAddr(u.Hostname()); u.Hostname() == "localhost" || (err == nil && ip.Unmap().IsLoopback()) {
			return nil
		}
	}
	return errors.New("must be https (plain http only on loopback)")
}
