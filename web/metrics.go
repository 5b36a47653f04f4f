package web

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
)

// noIssuer labels exchanges whose token named no configured issuer (malformed bodies and
// tokens, unknown issuers): the label never takes a value a caller chose.
const noIssuer = "none"

// MetricsConfig says where the metrics read the state they report.
type MetricsConfig struct {
	// Issuers are the configured issuers: the only values the issuer label takes besides
	// "none".
	Issuers []providers.IssuerConfig
	// KeyStatus reports the issuer key caches; nil reports none.
	KeyStatus func() []providers.KeyStatus
	// Pool reports the database connections; nil reports none.
	Pool func() store.PoolStats
	// Now is the clock key ages are measured with; default time.Now.
	Now func() time.Time
}

// Metrics are tpx's Prometheus metrics (docs/operations.md lists each with its alert). A
// Metrics has a registry of its own, so that several services in one process (tests)
// do not collide.
type Metrics struct {
	reg             *prometheus.Registry
	exchanges       *prometheus.CounterVec
	exchangeSeconds *prometheus.HistogramVec
	keyFetches      *prometheus.CounterVec
	httpRequests    *prometheus.CounterVec
	httpSeconds     *prometheus.HistogramVec
	retentionRuns   *prometheus.CounterVec
	retained        *prometheus.CounterVec
	retentionLast   prometheus.Gauge
	refusedTurns    *prometheus.CounterVec
	issuers         map[string]bool
}

// NewMetrics registers every metric, with the series of each configured issuer's
// successful exchanges and key fetches present from the start, so that a rate over them
// is defined before the first exchange.
func NewMetrics(cfg MetricsConfig) *Metrics {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Metrics{
		issuers: map[string]bool{},
		reg:     prometheus.NewRegistry(),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpx_exchanges_total",
			Help: "Token exchanges by CI issuer (\"none\" when the token named no configured one) and outcome: success or the error code of the reply.",
		}, []string{"issuer", "outcome"}),
		exchangeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tpx_exchange_duration_seconds",
			Help:    "Time to answer a token exchange, by outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"outcome"}),
		keyFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpx_issuer_key_fetches_total",
			Help: "Fetches of an issuer's discovery document and key set, by issuer and result (success or failure).",
		}, []string{"issuer", "result"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpx_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tpx_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		retentionRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpx_retention_runs_total",
			Help: "Retention runs of this replica, by result (success or failure).",
		}, []string{"result"}),
		retained: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpx_retention_rows_total",
			Help: "Rows retention deleted (pending_expired, exchanges) or pending publishers whose registrant it told of the coming expiry (pending_noticed).",
		}, []string{"what"}),
		retentionLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tpx_retention_last_success_timestamp_seconds",
			Help: "Unix time of this replica's last successful retention run; 0 before the first.",
		}),
		refusedTurns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tpx_refused_connection_requests_total",
			Help: "Exchange requests on connections whose last one was refused for the client's fault, which wait for turns: by result (served in a turn; no_turn: none in time, or the queue or the connection already had a waiter, answered 503; gone: the client left while waiting).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.exchanges, m.exchangeSeconds, m.keyFetches, m.httpRequests, m.httpSeconds,
		m.retentionRuns, m.retained, m.retentionLast, m.refusedTurns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{cfg: cfg})
	if cfg.KeyStatus != nil {
		for _, s := range cfg.KeyStatus() {
			m.exchanges.WithLabelValues(s.Issuer, "success")
			m.keyFetches.WithLabelValues(s.Issuer, "success")
			m.keyFetches.WithLabelValues(s.Issuer, "failure")
		}
	}
	for _, r := range []string{"success", "failure"} {
		m.retentionRuns.WithLabelValues(r)
	}
	for _, r := range []string{"served", "no_turn", "gone"} {
		m.refusedTurns.WithLabelValues(r)
	}
	for _, ic := range cfg.Issuers {
		m.issuers[ic.Issuer] = true
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// KeyFetched counts one fetch of issuer's keys; it is the providers' fetch hook.
func (m *Metrics) KeyFetched(issuer string, err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.keyFetches.WithLabelValues(issuer, result).Inc()
}

// Retained counts one retention run, done at at.
func (m *Metrics) Retained(at time.Time, r store.Retained, err error) {
	if err != nil {
		m.retentionRuns.WithLabelValues("failure").Inc()
		return
	}
	m.retentionRuns.WithLabelValues("success").Inc()
	m.retentionLast.Set(float64(at.UnixNano()) / 1e9)
	for what, n := range map[string]int64{
		"pending_expired": r.PendingExpired,
		"pending_noticed": r.PendingNoticed,
		"exchanges":       r.Exchanges,
	} {
		m.retained.WithLabelValues(what).Add(float64(n))
	}
}

func (m *Metrics) exchange(issuer, outcome string, d time.Duration) {
	if !m.issuers[issuer] {
		issuer = noIssuer
	}
	m.exchanges.WithLabelValues(issuer, outcome).Inc()
	m.exchangeSeconds.WithLabelValues(outcome).Observe(d.Seconds())
}

// refusedTurn counts a request of a refused connection by its result in the lane.
func (m *Metrics) refusedTurn(result string) {
	if m != nil {
		m.refusedTurns.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) request(route, method string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, methodLabel(method), statusLabel(status)).Inc()
	m.httpSeconds.WithLabelValues(route).Observe(d.Seconds())
}

// stateCollector reads the key caches and the connection pool at each scrape, so that
// what it reports is never older than the scrape.
type stateCollector struct{ cfg MetricsConfig }

var (
	keysDesc = prometheus.NewDesc("tpx_issuer_keys",
		"Signing keys held for the issuer.", []string{"issuer"}, nil)
	keyAgeDesc = prometheus.NewDesc("tpx_issuer_keys_age_seconds",
		"Time since the issuer's keys were last fetched successfully (+Inf if never); past the staleness bound (24 h) its tokens are refused with 503.", []string{"issuer"}, nil)
	keyFailingDesc = prometheus.NewDesc("tpx_issuer_key_fetch_failing",
		"1 if the last attempt to fetch the issuer's keys failed, else 0.", []string{"issuer"}, nil)
	dbMaxDesc = prometheus.NewDesc("tpx_db_connections_max",
		"Most database connections the pool opens.", nil, nil)
	dbOpenDesc = prometheus.NewDesc("tpx_db_connections_open",
		"Database connections open.", nil, nil)
	dbStateDesc = prometheus.NewDesc("tpx_db_connections",
		"Open database connections by state (in_use or idle).", []string{"state"}, nil)
	dbWaitsDesc = prometheus.NewDesc("tpx_db_connection_waits_total",
		"Requests for a database connection that found none idle and waited.", nil, nil)
	dbWaitDesc = prometheus.NewDesc("tpx_db_connection_wait_seconds_total",
		"Total time requests waited for a database connection.", nil, nil)
	groupsDesc = prometheus.NewDesc("tpx_db_commit_groups_total",
		"Transactions that committed two or more concurrent exchanges together.", nil, nil)
	groupedDesc = prometheus.NewDesc("tpx_db_grouped_exchanges_total",
		"Exchanges in those transactions, whether they committed or rolled back.", nil, nil)
	groupsBackDesc = prometheus.NewDesc("tpx_db_commit_groups_rolled_back_total",
		"Groups rolled back because one exchange failed (a replay, a publisher removed) or to end a deadlock; their exchanges then committed alone.", nil, nil)
	conflictsDesc = prometheus.NewDesc("tpx_db_conflicts_total",
		"Transactions the database rolled back to end a conflict with a concurrent one (a deadlock), each then run again (a group's members alone).", nil, nil)
	queueDesc = prometheus.NewDesc("tpx_db_commit_queue",
		"Exchanges waiting now for a group commit to take them.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{keysDesc, keyAgeDesc, keyFailingDesc, dbMaxDesc, dbOpenDesc, dbStateDesc, dbWaitsDesc, dbWaitDesc, groupsDesc, groupedDesc, groupsBackDesc, conflictsDesc, queueDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.cfg.KeyStatus != nil {
		now := c.cfg.Now()
		for _, s := range c.cfg.KeyStatus() {
			age := math.Inf(1)
			if !s.FetchedAt.IsZero() {
				age = now.Sub(s.FetchedAt).Seconds()
			}
			failing := 0.0
			if s.LastError != "" {
				failing = 1
			}
			ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(s.Keys), s.Issuer)
			ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, age, s.Issuer)
			ch <- prometheus.MustNewConstMetric(keyFailingDesc, prometheus.GaugeValue, failing, s.Issuer)
		}
	}
	if c.cfg.Pool != nil {
		p := c.cfg.Pool()
		ch <- prometheus.MustNewConstMetric(dbMaxDesc, prometheus.GaugeValue, float64(p.Max))
		ch <- prometheus.MustNewConstMetric(dbOpenDesc, prometheus.GaugeValue, float64(p.Open))
		ch <- prometheus.MustNewConstMetric(dbStateDesc, prometheus.GaugeValue, float64(p.InUse), "in_use")
		ch <- prometheus.MustNewConstMetric(dbStateDesc, prometheus.GaugeValue, float64(p.Idle), "idle")
		ch <- prometheus.MustNewConstMetric(dbWaitsDesc, prometheus.CounterValue, float64(p.Waits))
		ch <- prometheus.MustNewConstMetric(dbWaitDesc, prometheus.CounterValue, p.WaitTime.Seconds())
		ch <- prometheus.MustNewConstMetric(groupsDesc, prometheus.CounterValue, float64(p.CommitGroups))
		ch <- prometheus.MustNewConstMetric(groupedDesc, prometheus.CounterValue, float64(p.GroupedExchanges))
		ch <- prometheus.MustNewConstMetric(groupsBackDesc, prometheus.CounterValue, float64(p.GroupsRolledBack))
		ch <- prometheus.MustNewConstMetric(conflictsDesc, prometheus.CounterValue, float64(p.Conflicts))
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(p.CommitQueue))
	}
}

// replyCodeKey is where reply leaves the error code it answered with, for the exchange
// count.
const replyCodeKey = "tpx.reply_code"

// exchangeDone counts an exchange request by what was answered: success, or the error
// code of the reply; a handler that wrote neither (it panicked) is an internal error.
func (s *server) exchangeDone(c echo.Context, issuer string, start time.Time) {
	if s.cfg.Metrics == nil {
		return
	}
	outcome := "internal-error"
	if code, ok := c.Get(replyCodeKey).(string); ok {
		outcome = code
	} else if c.Response().Committed && c.Response().Status == http.StatusOK {
		outcome = "success"
	}
	s.cfg.Metrics.exchange(issuer, outcome, time.Since(start))
}

// statusLabel is status in decimal, without an allocation for the statuses tpx answers.
func statusLabel(status int) string {
	if status >= 100 && status < 600 {
		return statusLabels[status-100]
	}
	return strconv.Itoa(status)
}

var statusLabels = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(i + 100)
	}
	return s
}()

// methodLabel is the request's method if it is one of HTTP's own, else "other": the
// method is any token a client sends, up to the size of the header block.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}

// routeLabel is the route pattern a request matched, never its raw path, so that the
// label's values are the routes; requests that matched none share one value.
func routeLabel(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}
