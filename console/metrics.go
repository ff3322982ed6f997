package console

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctexchange/cte/sharing"
)

// metrics are the console's Prometheus metrics. Counters move with every sync
// the daemon reports (ObserveSync) and every share the console itself runs;
// the stored indicators are counted at scrape time (cached by the engine until
// a record changes).
type metrics struct {
	pulls      *prometheus.CounterVec   // source, result
	pulled     *prometheus.CounterVec   // source
	invalid    *prometheus.CounterVec   // source
	pushed     *prometheus.CounterVec   // config: indicators given to Push
	outcomes   *prometheus.CounterVec   // config, outcome: applied or retracted by a share
	standing   *prometheus.GaugeVec     // config, state: rejected or over capacity after the last share
	rejections *prometheus.CounterVec   // config, reason
	retries    *prometheus.CounterVec   // config
	waits      *prometheus.CounterVec   // config: shares held because the product asked to wait
	duration   *prometheus.HistogramVec // source
	nextSync   *prometheus.GaugeVec     // source
	lastSync   *prometheus.GaugeVec     // source
}

// reasonRateLimited is the engine's reason for indicators held back because
// the product asked to wait (ShareReport.Reasons).
const reasonRateLimited = "held: the product asked to wait"

func newMetrics(reg prometheus.Registerer, c *Console) (*metrics, error) {
	m := &metrics{
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_pulls_total",
			Help: "Syncs of a source, by result (ok or error)."}, []string{"source", "result"}),
		pulled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_pulled_indicators_total",
			Help: "Indicators stored from a source."}, []string{"source"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_invalid_indicators_total",
			Help: "Values a source sent that were refused as invalid."}, []string{"source"}),
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_pushed_indicators_total",
			Help: "Indicators given to a destination's Push, by sharing configuration."}, []string{"config"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_share_outcomes_total",
			Help: "Indicators a share applied or retracted, by sharing configuration and outcome."}, []string{"config", "outcome"}),
		standing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cte_share_standing",
			Help: "Indicators that stand refused for good (rejected) or left out of a full target (over_capacity) after a sharing configuration's last share."}, []string{"config", "state"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_rejections_total",
			Help: "Indicators refused or held back, by sharing configuration and reason."}, []string{"config", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_retries_total",
			Help: "Indicators left to retry on a later cycle, by sharing configuration."}, []string{"config"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cte_rate_limit_waits_total",
			Help: "Shares held back because the destination asked to wait (rate limit), by sharing configuration."}, []string{"config"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cte_sync_duration_seconds",
			Help: "How long a sync (pull and shares) of a source took.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"source"}),
		nextSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cte_next_sync_timestamp_seconds",
			Help: "When a source syncs next (Unix time), while the daemon runs."}, []string{"source"}),
		lastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cte_last_sync_timestamp_seconds",
			Help: "When a source last finished a sync (Unix time)."}, []string{"source"}),
	}
	stored := &storedCollector{c: c, desc: prometheus.NewDesc("cte_stored_indicators",
		"Stored indicator values by state: active, inactive (aged out or expired), marked (safe or deleted by an operator).", []string{"state"}, nil)}
	for _, col := range []prometheus.Collector{m.pulls, m.pulled, m.invalid, m.pushed, m.outcomes, m.standing, m.rejections,
		m.retries, m.waits, m.duration, m.nextSync, m.lastSync, stored, newLeaseCollector(c.eng)} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("console: register metrics: %w", err)
		}
	}
	// Every configuration's counters exist from the start at 0, so a rate()
	// or an alert on them has a series before the first share.
	for _, cfg := range c.eng.Configs() {
		m.pushed.WithLabelValues(cfg.Name)
		m.retries.WithLabelValues(cfg.Name)
		m.waits.WithLabelValues(cfg.Name)
		for _, o := range outcomes {
			m.outcomes.WithLabelValues(cfg.Name, o)
		}
		for _, st := range standing {
			m.standing.WithLabelValues(cfg.Name, st)
		}
	}
	return m, nil
}

// outcomes are the values of cte_share_outcomes_total's outcome label: what
// a share did. What stands refused or left out is a state, counted again by
// every share (a skipped share reports the last run's): a gauge, standing.
var (
	outcomes = [...]string{"applied", "retracted"}
	standing = [...]string{"rejected", "over_capacity"}
)

func (m *metrics) observeSync(rep sharing.SyncReport, err error, next time.Time) {
	src := rep.Source
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.pulls.WithLabelValues(src, result).Inc()
	m.pulled.WithLabelValues(src).Add(float64(rep.Indicators))
	m.invalid.WithLabelValues(src).Add(float64(rep.Invalid))
	m.duration.WithLabelValues(src).Observe(rep.Took.Seconds())
	m.lastSync.WithLabelValues(src).Set(float64(time.Now().Unix()))
	if !next.IsZero() {
		m.nextSync.WithLabelValues(src).Set(float64(next.Unix()))
	}
	for _, s := range rep.Shares {
		m.observeShare(s)
	}
}

func (m *metrics) observeShare(s sharing.ShareReport) {
	if s.Config == "" {
		return
	}
	m.pushed.WithLabelValues(s.Config).Add(float64(s.Sent))
	m.outcomes.WithLabelValues(s.Config, "applied").Add(float64(s.Applied))
	m.outcomes.WithLabelValues(s.Config, "retracted").Add(float64(s.Retracted))
	if !s.Deferred { // another instance shared: its counts are not this one's
		m.standing.WithLabelValues(s.Config, "rejected").Set(float64(s.Rejected))
		m.standing.WithLabelValues(s.Config, "over_capacity").Set(float64(s.OverCapacity))
	}
	m.retries.WithLabelValues(s.Config).Add(float64(s.Retrying))
	for reason, n := range s.Reasons {
		if reason == reasonRateLimited {
			m.waits.WithLabelValues(s.Config).Add(float64(n))
		}
		m.rejections.WithLabelValues(s.Config, reasonLabel(reason)).Add(float64(n))
	}
}

// reasonLabel keeps a reason's label short and bounded: products put ids and
// values into messages, so only the text before the first colon is kept, at
// most 60 bytes of it, cut between characters. A label must be valid UTF-8:
// prometheus panics on one that is not, which killed cte run's scheduler
// when a product's reason had a character across byte 60.
func reasonLabel(r string) string {
	if i := strings.IndexByte(r, ':'); i > 0 {
		r = r[:i]
	}
	r = strings.ToValidUTF8(r, "\uFFFD")
	if len(r) > 60 {
		cut := 60
		for cut > 0 && !utf8.RuneStart(r[cut]) {
			cut--
		}
		r = r[:cut]
	}
	return r
}

// storedCollector counts the stored indicators at scrape time.
type storedCollector struct {
	c    *Console
	desc *prometheus.Desc
}

func (s *storedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *storedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := s.c.eng.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(s.desc, err)
		return
	}
	for state, v := range map[string]int{"active": n.Active, "inactive": n.Inactive, "marked": n.Marked} {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(v), state)
	}
}

// leaseCollector reports, at scrape time, this instance's name and the leases
// it holds (Engine.Instance, Engine.HeldLeases): with a store several
// instances share (PostgreSQL), which sources and targets this one works on.
// A lease held since the console started and not held now reads 0, so that
// its loss shows (and alerts) instead of the series vanishing.
type leaseCollector struct {
	eng                *sharing.Engine
	info, held, expiry *prometheus.Desc
	mu                 sync.Mutex
	seen               map[string]bool // leases held at some scrape
}

func newLeaseCollector(eng *sharing.Engine) *leaseCollector {
	return &leaseCollector{eng: eng, seen: map[string]bool{},
		info: prometheus.NewDesc("cte_instance_info",
			"The name this cte instance holds leases under (always 1).", []string{"instance"}, nil),
		held: prometheus.NewDesc("cte_lease_held",
			"1 while this instance holds the lease (instance/<name>, source/<plugin>, target/<plugin>/<target>), 0 after it lost or released one it held.", []string{"lease"}, nil),
		expiry: prometheus.NewDesc("cte_lease_expiry_timestamp_seconds",
			"When a lease this instance holds expires unless renewed (Unix time, by the database's clock).", []string{"lease"}, nil),
	}
}

func (l *leaseCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.info
	ch <- l.held
	ch <- l.expiry
}

func (l *leaseCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(l.info, prometheus.GaugeValue, 1, l.eng.Instance())
	held := map[string]bool{}
	for _, x := range l.eng.HeldLeases() {
		held[x.Name] = true
		ch <- prometheus.MustNewConstMetric(l.expiry, prometheus.GaugeValue, float64(x.Expires.UnixNano())/1e9, x.Name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := range held {
		l.seen[n] = true
	}
	for n := range l.seen {
		v := 0.0
		if held[n] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(l.held, prometheus.GaugeValue, v, n)
	}
}
