package netskopetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctexchange/cte/internal/fake"
)

// Paths the fake serves, relative to Server.URL.
const (
	PathUpdateFileHashList = "/api/v1/updateFileHashList"
	PathAppInstances       = "/api/v1/app_instances"
	PathDataExportAlerts   = "/api/v2/events/dataexport/alerts/" // + alert type
	PathURLList            = "/api/v2/policy/urllist"
	PathURLListDeploy      = "/api/v2/policy/urllist/deploy"
)

// Scope is a REST API v2 endpoint a token may call: a path prefix such as
// ScopeURLList. A request is in scope when its path equals the scope or continues it
// with "/".
type Scope string

// Scopes of the endpoints the fake serves.
const (
	ScopeAlertsMalware Scope = PathDataExportAlerts + KindMalware
	ScopeAlertsMalsite Scope = PathDataExportAlerts + KindMalsite
	// ScopeURLList covers every URL-list call (read and write: the tenant offers URL
	// lists only with Read+Write privilege).
	ScopeURLList Scope = PathURLList
)

// Limits the fake enforces, from the Netskope documentation.
const (
	// MaxFileHashListBytes is the largest comma-joined list updateFileHashList takes.
	MaxFileHashListBytes = 8 << 20
	// MaxURLListBodyBytes is the largest URL-list request body accepted.
	MaxURLListBodyBytes = 8 << 20
	// MaxPageSize is the most alerts one Data Export iterator page holds.
	MaxPageSize = 10000
	// DefaultV1Limit requests per DefaultV1Window is the REST API v1 rate limit.
	DefaultV1Limit  = 24
	DefaultV1Window = 5 * time.Second
	// DefaultV2Limit is the fake tenant's v2 budget per endpoint per second. The
	// documented Data Export figure is 4; tests that want it pass WithV2RateLimit(4).
	DefaultV2Limit = 1000
)

// maxV1Body bounds a v1 request body: an 8 MiB list plus room for the rest.
const maxV1Body = MaxFileHashListBytes + 1<<20

// Server is an in-process fake Netskope tenant. Its methods are safe for concurrent use.
type Server struct {
	// URL is the tenant URL, "http://127.0.0.1:<port>", without a trailing slash.
	URL string

	srv    *fake.Server
	faults *fake.Queue[fault]
	log    *fake.Log[Request]

	mu        sync.Mutex
	cfg       config
	hashLists map[string]*hashList
	alerts    map[string]*alertStore
	cursors   map[cursorKey]*cursor
	urlLists  map[int]*urlList
	nextID    int
	deploys   int
	v1Times   []time.Time
	v2Windows map[string]*window
	rng       *rand.Rand
	alertSeq  int
	reqSeq    atomic.Int64
}

// Request is one entry of the request log. It never holds a token value.
type Request struct {
	Method string
	Path   string
	// Query is the query string with every token value replaced by "REDACTED".
	Query url.Values
	// Status is the HTTP status sent, 0 when the connection was reset or the client
	// went away before a status was sent.
	Status int
	// Fault names the injected fault that hit the request ("" for none): one of
	// FaultRateLimit, FaultServerError, FaultStatus, FaultReset, FaultBreak, FaultStall.
	Fault string
	// TokenInURL reports that the URL carried a token: a "token" query parameter or a
	// configured token value anywhere in the path or query.
	TokenInURL bool
	// Time is the server clock when the request arrived.
	Time time.Time
	// RequestID is the X-Request-Id the answer carried ("" when none was sent).
	RequestID string
}

// New starts a fake tenant on 127.0.0.1. The caller must Close it.
func New(opts ...Option) *Server {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		cfg:       cfg,
		faults:    fake.NewQueue[fault]("netskopetest"),
		log:       fake.NewLog[Request](maxLog),
		hashLists: map[string]*hashList{},
		alerts:    map[string]*alertStore{},
		cursors:   map[cursorKey]*cursor{},
		urlLists:  map[int]*urlList{},
		nextID:    1,
		v2Windows: map[string]*window{},
		rng:       rand.New(rand.NewPCG(uint64(cfg.seed), 0x6e736b74)),
	}
	tokens := rand.New(rand.NewPCG(uint64(cfg.seed), 0x746f6b656e))
	v1, v2 := fmt.Sprintf("%016x%016x", tokens.Uint64(), tokens.Uint64()), fmt.Sprintf("%016x%016x", tokens.Uint64(), tokens.Uint64())
	if s.cfg.v1Token == "" {
		s.cfg.v1Token = v1
	}
	if s.cfg.v2Token == "" {
		s.cfg.v2Token = v2
	}
	for _, h := range cfg.hashLists {
		s.hashLists[h.name] = &hashList{entries: slices.Clone(h.initial), types: h.types}
	}
	now := s.now()
	for _, u := range cfg.urlLists {
		s.createURLList(u.name, u.typ, u.urls, now, true)
	}
	for _, kind := range []string{KindMalware, KindMalsite} {
		s.seedAlerts(kind, cfg.alertCounts[kind], now)
	}
	s.srv = fake.Start(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// NewServer starts a fake tenant that tb's cleanup closes.
func NewServer(tb TB, opts ...Option) *Server {
	tb.Helper()
	s := New(opts...)
	tb.Cleanup(s.Close)
	return s
}

// Close releases stalled requests and shuts the server down. It is idempotent.
func (s *Server) Close() { s.srv.Abort() }

// Client returns an HTTP client for the server (a plain one: the fake speaks HTTP).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// V1Token returns the REST API v1 token the tenant accepts.
func (s *Server) V1Token() string { return s.cfg.v1Token }

// V2Token returns the REST API v2 token the tenant accepts (header Netskope-Api-Token).
func (s *Server) V2Token() string { return s.cfg.v2Token }

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	out := s.log.All()
	for i := range out {
		out[i].Query = cloneValues(out[i].Query)
	}
	return out
}

// TokenInURL reports whether any request so far carried a token in its URL.
func (s *Server) TokenInURL() bool {
	return slices.ContainsFunc(s.log.All(), func(r Request) bool { return r.TokenInURL })
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() { s.log.Clear() }

// Now returns the server clock.
func (s *Server) Now() time.Time { return s.now() }

func (s *Server) now() time.Time { return s.cfg.clock() }

// maxLog bounds the request log; the oldest entries go first.
const maxLog = 100000

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// redactQuery copies q with token values hidden.
func (s *Server) redactQuery(q url.Values) (url.Values, bool) {
	leaked := false
	out := make(url.Values, len(q))
	for k, vs := range q {
		c := make([]string, len(vs))
		for i, v := range vs {
			if strings.EqualFold(k, "token") || s.hasToken(v) {
				leaked = true
				v = "REDACTED"
			}
			c[i] = v
		}
		out[k] = c
	}
	return out, leaked
}

func (s *Server) hasToken(v string) bool {
	return strings.Contains(v, s.cfg.v1Token) || strings.Contains(v, s.cfg.v2Token)
}

// reply is a response built by a handler before it is written.
type reply struct {
	status int
	header http.Header
	body   []byte
	gzip   bool // may be gzip-encoded if the client accepts it
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("netskopetest: marshal reply: %v", err))
	}
	return reply{status: status, body: b}
}

// v2Message is the {"message": ...} body of v2 errors.
func v2Message(status int, msg string) reply {
	return jsonReply(status, map[string]any{"message": msg})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	q, leaked := s.redactQuery(r.URL.Query())
	if s.hasToken(r.URL.Path) {
		leaked = true
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: q, TokenInURL: leaked, Time: s.now(),
		RequestID: fmt.Sprintf("nsk-%08d", s.reqSeq.Add(1))}
	w.Header().Set("X-Request-Id", rec.RequestID)
	// A request is logged before the client can see its answer (or its
	// reset): a test reading Requests right after a call finds it there.
	if f, ok := s.faults.Take(r.URL.Path); ok {
		rec.Fault = f.kind
		switch f.kind {
		case FaultRateLimit, FaultServerError, FaultStatus:
			rep := s.faultReply(r, f)
			rec.Status = rep.status
			s.log.Add(rec)
			s.write(w, r, rep)
			return
		case FaultReset:
			rec.RequestID = ""
			s.log.Add(rec)
			resetConn(w)
			return
		case FaultBreak:
			rep := s.route(r)
			rec.Status = rep.status
			s.log.Add(rec)
			s.writeHalf(w, r, rep)
			return
		case FaultStall:
			if f.gate.Wait(r.Context(), s.srv.Closing()) != nil {
				s.log.Add(rec)
				panic(http.ErrAbortHandler)
			}
		}
	}
	rep := s.route(r)
	rec.Status = rep.status
	s.log.Add(rec)
	s.write(w, r, rep)
}

func (s *Server) route(r *http.Request) reply {
	p := r.URL.Path
	switch {
	case p == PathUpdateFileHashList:
		return s.handleUpdateFileHashList(r)
	case p == PathAppInstances:
		return s.handleAppInstances(r)
	case strings.HasPrefix(p, PathDataExportAlerts):
		return s.handleDataExport(r, strings.TrimPrefix(p, PathDataExportAlerts))
	case p == PathURLList || strings.HasPrefix(p, PathURLList+"/"):
		return s.handleURLList(r)
	case strings.HasPrefix(p, "/api/v1/"):
		return v1Error(http.StatusNotFound, "Not Found", "unknown endpoint "+p)
	}
	return v2Message(http.StatusNotFound, "Not Found")
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, rep reply) {
	body := s.encode(w, r, rep)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

// encode sets the reply headers and returns the body to send, gzipped when allowed.
func (s *Server) encode(w http.ResponseWriter, r *http.Request, rep reply) []byte {
	h := w.Header()
	for k, vs := range rep.header {
		h[k] = vs
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	body := rep.body
	if rep.gzip && s.cfg.gzip && acceptsGzip(r) {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
	}
	return body
}

// writeHalf announces the whole body, sends half of it and drops the connection.
func (s *Server) writeHalf(w http.ResponseWriter, r *http.Request, rep reply) {
	body := s.encode(w, r, rep)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(body[:len(body)/2])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// TB is the part of testing.TB that NewServer uses; *testing.T, *testing.B and
// *testing.F satisfy it. Taking this rather than testing.TB keeps the testing
// package out of programs that start the fake with New, such as the cte demo.
type TB interface {
	Helper()
	Cleanup(func())
}
