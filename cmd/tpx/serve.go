package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/notify"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/token"
	"github.com/tpx-dev/tpx/web"
)

// shutdownGrace bounds how long in-flight requests may finish after SIGTERM.
const shutdownGrace = 20 * time.Second

// service is a wired tpx: store, key caches, minter, exchange, metrics and HTTP handler.
type service struct {
	box     *secretbox.Box
	store   store.Store
	set     *providers.Set
	minter  *token.Minter
	metrics *web.Metrics
	mail    *notify.Sender
	ex      *exchange.Service
	handler http.Handler
}

// wiring is what build needs besides the configuration. Keys tunes the issuer key caches
// (tests shorten their cooldown); nil keeps the defaults.
type wiring struct {
	store  store.Store
	log    *slog.Logger
	client *http.Client
	keys   func(*providers.Config)
}

// build wires a service from cfg.
func build(ctx context.Context, cfg Config, w wiring) (*service, error) {
	box, err := secretbox.New(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	// openStore has done this for a store tpx opened; a store the caller opened (tests,
	// benchmarks) takes the deployment's naming rule here.
	if err := w.store.UseNames(ctx, cfg.Names, false); err != nil {
		return nil, fmt.Errorf("the store's project names: %w", err)
	}
	// Every line logged with a request's context carries its id, whichever package logs it.
	st, log := w.store, slog.New(web.LogHandler(w.log.Handler()))
	// metrics is set below, before anything can fetch: fetches start with Start or the
	// first Verify.
	var metrics *web.Metrics
	pcfg := providers.Config{Audience: cfg.Audience, Issuers: cfg.Providers, HTTPClient: w.client, Logger: log,
		OnFetch: func(issuer string, err error) { metrics.KeyFetched(issuer, err) }}
	if w.keys != nil {
		w.keys(&pcfg)
	}
	set, err := providers.New(pcfg)
	if err != nil {
		return nil, err
	}
	mcfg := web.MetricsConfig{Issuers: set.Issuers(), KeyStatus: set.KeyStatus, Now: pcfg.Now}
	if p, ok := st.(interface{ PoolStats() store.PoolStats }); ok {
		mcfg.Pool = p.PoolStats
	}
	metrics = web.NewMetrics(mcfg)
	minter, err := token.NewMinter(ctx, token.MinterConfig{Issuer: cfg.PublicURL, TTL: cfg.TokenTTL, Keys: st, Box: box, Logger: log})
	if err != nil {
		set.Close()
		return nil, fmt.Errorf("loading signing keys: %w", err)
	}
	// The owner web UI: its account service also observes exchanges, and the sender
	// delivers the outbox it fills.
	accounts := account.New(account.Config{Store: st, Box: box, Logger: log, PublicURL: cfg.PublicURL, Projects: cfg.Projects, Signup: cfg.Signup, Issuers: cfg.Providers,
		NoPasswordLogin: cfg.PasswordLoginOff, Names: cfg.Names})
	var rp *signin.RP
	if cfg.OIDC.Issuer != "" {
		oc := cfg.OIDC
		oc.RedirectURL, oc.Box, oc.HTTPClient = cfg.PublicURL+web.SignInCallbackPath, box, w.client
		if rp, err = signin.New(oc); err != nil {
			set.Close()
			return nil, err
		}
	}
	sender, err := notify.New(notify.Config{Store: st, SMTPURL: cfg.SMTPURL, Logger: log})
	if err != nil {
		set.Close()
		return nil, err
	}
	ex, err := exchange.New(exchange.Config{Verifier: set, Store: accounts.ForExchange(st), Minter: minter, Logger: log, Observer: accounts, Names: cfg.Names})
	if err != nil {
		set.Close()
		return nil, err
	}
	h := web.New(web.Config{Exchange: ex, Minter: minter, Store: st, Audience: cfg.Audience, IntrospectSecret: cfg.IntrospectSecret, Logger: log,
		Metrics: metrics, RateLimit: cfg.RateLimit, Protocols: cfg.protocolRoutes(),
		UI:    &web.UIConfig{Accounts: accounts, Store: st, PublicURL: cfg.PublicURL, SignIn: rp},
		Admin: &web.AdminConfig{Accounts: accounts}, SecretScanning: secretScanning(cfg, accounts, w.client)})
	return &service{box: box, store: st, set: set, minter: minter, metrics: metrics, mail: sender, ex: ex, handler: h}, nil
}

func (c *cli) serve(ctx context.Context, args []string) error {
	fs, load := c.flags("serve")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := c.logger(cfg)
	roots, err := cfg.rootCAs()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := build(ctx, cfg, wiring{store: st, log: log, client: providers.HardenedClient(roots)})
	if err != nil {
		return err
	}
	defer svc.set.Close()
	if svc.minter.KeysInPlainText() {
		log.Warn("SIGNING KEYS ARE STORED IN PLAIN TEXT: anyone who reads the database can mint upload tokens. Set TPX_SECRET_KEY (32+ characters) and keep it safe; TOTP secrets are sealed with it too.")
	}
	// Listen before starting any background work, so that an address in use fails the
	// start with nothing left running.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("TPX_ADDR: %w", err)
	}
	svc.set.Start(ctx)
	go svc.minter.Run(ctx)
	go retain(ctx, st, log, svc.metrics, retentionPolicy(cfg))
	go svc.mail.Run(ctx)
	go sweepExpired(ctx, st, log)
	srv := &http.Server{
		Handler:           svc.handler,
		ConnContext:       web.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	switch cfg.Projects {
	case account.ProjectsManaged:
		log.Info("projects are managed: only the index (admin API) and the operator create projects and set owners; pending publishers only for names the index granted", "projects", cfg.Projects, "signup", cfg.Signup)
	default:
		log.Warn("projects are open: anyone who signs up and enrols a second factor may take any name not yet in tpx; in front of an index that already has projects set TPX_PROJECTS=managed", "projects", cfg.Projects, "signup", cfg.Signup)
	}
	logSignIn(log, cfg)
	log.Info("tpx serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "audience", cfg.Audience, "store", storeName(cfg), "tls", cfg.TLSCert != "")
	for _, p := range cfg.protocolRoutes() {
		log.Info("protocol served", "protocol", p.Protocol, "audience", p.Audience, "names", cfg.Names)
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: no new connections; finishing requests in flight", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Owners' notices of the last exchanges are written after their replies.
	svc.ex.Wait()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// logSignIn says at start how owners sign in.
func logSignIn(log *slog.Logger, cfg Config) {
	switch {
	case cfg.OIDC.Issuer == "":
		log.Info("sign-in: password only; set TPX_OIDC_ISSUER to let owners sign in through the package index", "password_login", !cfg.PasswordLoginOff)
	case cfg.PasswordLoginOff:
		log.Info("sign-in: only through the package index's OpenID provider; password login is off", "oidc_issuer", cfg.OIDC.Issuer, "amr_counts", strings.Join(cfg.OIDC.AMR, ","), "redirect_uri", cfg.PublicURL+web.SignInCallbackPath)
	default:
		log.Info("sign-in: password, or through the package index's OpenID provider", "oidc_issuer", cfg.OIDC.Issuer, "amr_counts", strings.Join(cfg.OIDC.AMR, ","), "redirect_uri", cfg.PublicURL+web.SignInCallbackPath)
	}
}

func storeName(cfg Config) string {
	if cfg.DatabaseURL != "" {
		return "postgresql"
	}
	return "sqlite in " + cfg.DataDir
}

// secretScanning wires GitHub's reports of leaked upload tokens, unless
// TPX_SECRET_SCANNING_KEYS_URL is empty.
func secretScanning(cfg Config, accounts *account.Service, client *http.Client) *web.SecretScanningConfig {
	if cfg.SecretScanningKeysURL == "" {
		return nil
	}
	return &web.SecretScanningConfig{Accounts: accounts, KeysURL: cfg.SecretScanningKeysURL, HTTPClient: client}
}
