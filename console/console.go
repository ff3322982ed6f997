package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctexchange/cte/sharing"
)

//go:embed assets
var assets embed.FS

// Options configure a Console.
type Options struct {
	// Token is the bearer token every request must carry (the Authorization
	// header, or the cookie the /login form sets). Empty means no token: only
	// safe on a loopback listener, where the console also refuses requests
	// whose Host is not a loopback name (DNS rebinding).
	Token string
	// Logger gets one line per failed request; nil discards.
	Logger *slog.Logger
	// Registerer registers the metrics; nil gives the console a registry of
	// its own, served at /metrics with the Go and process collectors.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics when Registerer is set; nil serves the
	// default gatherer.
	Gatherer prometheus.Gatherer
}

// Console is the operator console over one engine: an http.Handler serving the
// page at /, the JSON API under /api/v1/, /healthz and /metrics. Mount it at
// the root of a mux or a server of its own.
type Console struct {
	eng   *sharing.Engine
	opts  Options
	log   *slog.Logger
	mux   *http.ServeMux
	page  *template.Template
	m     *metrics
	csrf  *http.CrossOriginProtection
	start time.Time

	mu   sync.Mutex
	next map[string]time.Time // next sync by source, while the daemon runs
}

// New returns a console over eng.
func New(eng *sharing.Engine, opts Options) (*Console, error) {
	if eng == nil {
		return nil, errors.New("console: New: nil engine")
	}
	c := &Console{eng: eng, opts: opts, log: opts.Logger, mux: http.NewServeMux(), next: map[string]time.Time{},
		csrf: http.NewCrossOriginProtection(), start: time.Now()}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	page, err := template.New("index.html").Funcs(funcs).ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("console: page template: %w", err)
	}
	c.page = page
	reg, gat := opts.Registerer, opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, gat = r, r
		if err := r.Register(prometheus.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("console: metrics: %w", err)
		}
		if err := r.Register(prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("console: metrics: %w", err)
		}
	}
	if gat == nil {
		gat = prometheus.DefaultGatherer
	}
	if c.m, err = newMetrics(reg, c); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(assets, "assets")
	c.mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		// the script and the style sheet only: not the page's template, not a listing
		if f := r.PathValue("file"); f == "app.css" || f == "app.js" {
			http.ServeFileFS(w, r, static, f)
			return
		}
		http.NotFound(w, r)
	})
	c.mux.HandleFunc("GET /{$}", c.index)
	c.mux.HandleFunc("GET /login", c.loginForm)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("GET /healthz", c.healthz)
	c.mux.Handle("GET /metrics", promhttp.HandlerFor(gat, promhttp.HandlerOpts{}))
	c.routes()
	return c, nil
}

// ServeHTTP checks the request's host, token and origin, then serves it.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	if c.opts.Token == "" && !loopbackHost(r.Host) {
		c.problem(w, r, http.StatusForbidden, errors.New("this console has no token and answers only requests for a loopback host (localhost, 127.0.0.1, [::1]); set a token to serve other names"))
		return
	}
	public := r.URL.Path == "/healthz" || r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/static/")
	if !public && !c.authorized(r) {
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="cte"`)
		c.problem(w, r, http.StatusUnauthorized, errors.New("missing or wrong token: send it as Authorization: Bearer TOKEN (--token or CTE_API_TOKEN of cte run)"))
		return
	}
	if err := c.csrf.Check(r); err != nil {
		c.problem(w, r, http.StatusForbidden, fmt.Errorf("cross-origin request refused: state-changing calls must come from this console's own page (%w)", err))
		return
	}
	c.mux.ServeHTTP(w, r)
}

// authorized reports whether r carries the token (always, without one).
func (c *Console) authorized(r *http.Request) bool {
	if c.opts.Token == "" {
		return true
	}
	got := ""
	if h := r.Header.Get("Authorization"); len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		got = strings.TrimSpace(h[len("Bearer "):]) // the scheme is case-insensitive (RFC 9110)
	} else if ck, err := r.Cookie(cookieName); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(ck.Value); err == nil {
			got = string(b)
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.opts.Token)) == 1
}

// cookieName is the cookie /login sets. It holds the token base64-encoded
// (RawURLEncoding): a cookie keeps no '"', ';', '\\' or non-ASCII byte, and
// net/http dropped them from a token holding one, which then never matched.
const cookieName = "cte_token"

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopback reports whether a listen address (host:port) is on the loopback
// interface only, where the console may run without a token. A unix socket
// path counts as loopback.
func IsLoopback(addr string) bool {
	if strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/") {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ObserveShare records in the metrics a share the daemon ran outside a
// sync: a replay, an operator's action applied at once (those the console
// runs itself are recorded already).
func (c *Console) ObserveShare(rep sharing.ShareReport) { c.m.observeShare(rep) }

// ObserveSync records a sync of the running daemon: its metrics and, when
// next is not zero, when the source syncs next. Pass it to
// sharing.Engine.RunNotify; a sync run otherwise (a command the daemon ran
// for the CLI) is recorded with a zero next.
func (c *Console) ObserveSync(rep sharing.SyncReport, err error, next time.Time) {
	c.mu.Lock()
	if !next.IsZero() {
		c.next[rep.Source] = next
	}
	c.mu.Unlock()
	c.m.observeSync(rep, err, next)
}

func (c *Console) nextSync(source string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next[source]
}

func (c *Console) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptime": time.Since(c.start).Round(time.Second).String()})
}

// Warm computes the page's default listing (all indicators by last seen), so
// that the first visit does not wait for a scan of the store. cte run calls
// it in the background when it starts.
func (c *Console) Warm(ctx context.Context) error {
	_, err := c.eng.List(ctx, sharing.ListOptions{Sort: sharing.SortLastSeen, AllowStale: true})
	return err
}
