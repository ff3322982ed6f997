package mimecasttest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ctexchange/cte/internal/fake"
)

// Endpoint paths served by the fake. Every one of them answers POST only.
const (
	PathToken             = "/oauth/token"
	PathGetAccount        = "/api/account/get-account"
	PathGetFeed           = "/api/ttp/threat-intel/get-feed"
	PathCreateBatch       = "/api/byo-threat-intelligence/create-batch"
	PathGetLogs           = "/api/ttp/url/get-logs"
	PathDecodeURL         = "/api/ttp/url/decode-url"
	PathCreateManagedURL  = "/api/ttp/url/create-managed-url"
	PathGetAllManagedURLs = "/api/ttp/url/get-all-managed-urls"
	PathDeleteManagedURL  = "/api/ttp/url/delete-managed-url"
)

// Limits the fake enforces, those of the Mimecast API.
const (
	MaxHashesPerBatch    = 1000    // hashList entries per create-batch request
	MaxProviderLen       = 10      // characters of hashList[].provider
	MaxDescriptionLen    = 20      // characters of hashList[].description
	MaxDecodeURLs        = 25      // items per decode-url request
	MaxCreateManagedURLs = 20      // items per create-managed-url request
	MaxLogsPageSize      = 500     // largest get-logs pageSize honoured; larger ones are clamped
	MaxBodyBytes         = 8 << 20 // request body; larger ones get 413
)

// Texts and values clients rely on.
const (
	// BYOPackage is the account package that enables create-batch.
	BYOPackage = "BYO: Threat Intelligence [1089]"
	// QuotaMessage is the fail message create-batch sends when the batch quota is spent.
	QuotaMessage = "Quota not available to create the batch"
	// SkewMessage is the fail message of a 401 caused by an x-mc-date outside the allowed skew.
	SkewMessage = "Date Header Too Skewed"
	// DateLayout is the layout of the x-mc-date header (followed by " UTC"; " GMT" is accepted too).
	DateLayout = "Mon, 02 Jan 2006 15:04:05"
	// NextTokenHeader carries the get-feed pagination token.
	NextTokenHeader = "x-mc-threat-feed-next-token"
	// FeedHeader is the first line of every CSV feed page.
	FeedHeader = "Timestamp|SenderAddress|RecipientAddress|FileName|FileType|MD5|SHA256"
	// FeedTimeLayout is the layout of the Timestamp column.
	FeedTimeLayout = "2006-01-02T15:04:05.000Z"
	// LogTimeLayout is the layout of click-log dates.
	LogTimeLayout = "2006-01-02T15:04:05-0700"
)

// Feed types of get-feed.
const (
	FeedMalwareCustomer = "malware_customer"
	FeedMalwareGrid     = "malware_grid"
)

// Defaults of the options.
const (
	DefaultMaxSkew        = 15 * time.Minute
	DefaultTokenTTL       = 30 * time.Minute
	DefaultFeedPageSize   = 500
	DefaultCustomerRows   = 250
	DefaultGridRows       = 1200
	DefaultClickLogs      = 120
	DefaultDataWindow     = 6 * 24 * time.Hour
	DefaultSeed           = 1
	defaultLogsPageSize   = 100
	defaultFeedStartRange = 7 * 24 * time.Hour
)

// Credentials are the keys the fake accepts. The API 1.0 set (AppID, AppKey,
// AccessKey, SecretKey) signs HMAC requests; the API 2.0 set (ClientID,
// ClientSecret) obtains bearer tokens from /oauth/token.
type Credentials struct {
	AppID        string // API 1.0 application id, sent as x-mc-app-id
	AppKey       string // API 1.0 application key, signed (never sent)
	AccessKey    string // API 1.0 access key, sent in Authorization
	SecretKey    string // API 1.0 secret key: base64 (standard alphabet, padded), as Mimecast hands it out
	ClientID     string // API 2.0 client id
	ClientSecret string // API 2.0 client secret
}

// DefaultCredentials returns the credentials a fake accepts unless
// WithCredentials says otherwise. The API 1.0 keys are made up; they are those
// of the worked signature vectors the tests check.
func DefaultCredentials() Credentials {
	return Credentials{
		AppID:        "11111111-2222-3333-4444-555555555555",
		AppKey:       "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		AccessKey:    "AK-test-0001",
		SecretKey:    "bmV0c2tvcGUtZmFrZS1taW1lY2FzdC1zZWNyZXQtMDAwMQ==",
		ClientID:     "cte-fake-client-id",
		ClientSecret: "cte-fake-client-secret",
	}
}

// AuthMode names how a request authenticated.
type AuthMode string

// Authentication modes.
const (
	AuthNone  AuthMode = ""      // no recognised credentials
	AuthHMAC  AuthMode = "hmac"  // API 1.0: Authorization: MC access:signature plus x-mc-* headers
	AuthOAuth AuthMode = "oauth" // API 2.0: Authorization: Bearer token, or the /oauth/token call itself
)

// Request is one entry of the request log.
type Request struct {
	Time     time.Time   // the fake's clock when the request arrived
	Method   string      // HTTP method
	Path     string      // URL path
	Header   http.Header // request headers, with Authorization redacted
	Body     []byte      // request body; nil for /oauth/token, which carries the client secret
	BodySize int         // bytes of the request body
	Auth     AuthMode    // credentials presented (the scheme, not whether they were accepted)
	ReqID    string      // x-mc-req-id (API 1.0)
	Date     string      // x-mc-date (API 1.0)
	Status   int         // HTTP status sent; 0 when the connection was reset
	Fault    string      // injected fault that answered, if any ("rate_limit", "server_error", ...)
}

// Option configures a Server at construction.
type Option func(*config)

type config struct {
	creds        Credentials
	clock        func() time.Time
	seed         int64
	feedRows     map[string]int
	feedPageSize int
	clickLogs    int
	window       time.Duration
	maxSkew      time.Duration
	tokenTTL     time.Duration
	packages     []string
	noBYO        bool
	replayCheck  bool
	authModes    map[AuthMode]bool
	batchQuota   int
	rateLimit    int
	rateRefill   time.Duration
}

// WithCredentials replaces the accepted credentials. It panics when SecretKey is
// not valid base64.
func WithCredentials(c Credentials) Option { return func(cfg *config) { cfg.creds = c } }

// WithClock sets the fake's clock, used for x-mc-date skew, token expiry, rate
// limiting, default time ranges and the time base of generated data.
func WithClock(now func() time.Time) Option { return func(cfg *config) { cfg.clock = now } }

// WithSeed seeds the generated feed rows, click logs and tokens. The same seed
// and clock give the same data.
func WithSeed(seed int64) Option { return func(cfg *config) { cfg.seed = seed } }

// WithFeed sets how many rows the feed feedType holds (defaults:
// DefaultCustomerRows for malware_customer, DefaultGridRows for malware_grid).
// Any feed type name is accepted, so tests can add their own. Generated rows
// are oldest first and salted with oddities by row number i (i % 50):
//
//	 7: MD5 "null"                       13: SHA256 ""
//	19: MD5 "" and SHA256 "null"          23: MD5 of 31 hex digits
//	29: SHA256 with non-hex characters    31: the empty file's MD5 and SHA256
//	37: SenderAddress ""                  41: MD5 in upper case (valid)
//	43: the same hashes as the row before (a duplicate)
func WithFeed(feedType string, rows int) Option {
	return func(cfg *config) { cfg.feedRows[feedType] = rows }
}

// WithFeedPageSize sets the rows per get-feed page (default DefaultFeedPageSize).
func WithFeedPageSize(n int) Option { return func(cfg *config) { cfg.feedPageSize = n } }

// WithClickLogs sets how many URL Protect click logs are generated (default
// DefaultClickLogs); about three in four are malicious.
func WithClickLogs(n int) Option { return func(cfg *config) { cfg.clickLogs = n } }

// WithDataWindow sets the span before the construction time over which generated
// feed rows and click logs are spread (default DefaultDataWindow).
func WithDataWindow(d time.Duration) Option { return func(cfg *config) { cfg.window = d } }

// WithMaxSkew sets the largest accepted difference between x-mc-date and the
// fake's clock (default DefaultMaxSkew).
func WithMaxSkew(d time.Duration) Option { return func(cfg *config) { cfg.maxSkew = d } }

// WithTokenTTL sets the lifetime of issued bearer tokens (default DefaultTokenTTL),
// reported as expires_in.
func WithTokenTTL(d time.Duration) Option { return func(cfg *config) { cfg.tokenTTL = d } }

// WithPackages replaces the account's package list returned by get-account.
func WithPackages(pkgs ...string) Option {
	return func(cfg *config) { cfg.packages = append([]string(nil), pkgs...) }
}

// WithoutBYO removes BYOPackage from the account's packages.
func WithoutBYO() Option { return func(cfg *config) { cfg.noBYO = true } }

// WithReplayCheck turns the refusal of a reused x-mc-req-id on or off (default
// on). A real server is believed to accept reuse inside the skew window (the
// reference plugin signs once per pagination and works); the default is strict
// so a client that reuses signed headers fails.
func WithReplayCheck(on bool) Option { return func(cfg *config) { cfg.replayCheck = on } }

// WithAuthMode restricts the API endpoints to the given modes (default: both
// AuthHMAC and AuthOAuth). A request in another mode gets a 401.
func WithAuthMode(modes ...AuthMode) Option {
	return func(cfg *config) {
		cfg.authModes = map[AuthMode]bool{}
		for _, m := range modes {
			cfg.authModes[m] = true
		}
	}
}

// WithBatchQuota sets how many create-batch requests succeed before the quota is
// spent (default unlimited, any negative value).
func WithBatchQuota(n int) Option { return func(cfg *config) { cfg.batchQuota = n } }

// WithRateLimit enables a token bucket per credential: limit requests, one
// added back every refill. An empty bucket answers 429 with X-RateLimit-Reset.
func WithRateLimit(limit int, refill time.Duration) Option {
	return func(cfg *config) { cfg.rateLimit, cfg.rateRefill = limit, refill }
}

// Server is a fake Mimecast API listening on 127.0.0.1. It is safe for
// concurrent use; every setter may be called while requests are served.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234. API paths hang off it.
	URL string

	srv    *fake.Server
	cfg    config
	secret []byte
	clock  func() time.Time

	faults   *fake.Queue[fault] // locks itself
	requests *fake.Log[Request] // locks itself

	mu             sync.Mutex
	creds          Credentials
	packages       []string
	rng            *rand.Rand
	tokens         map[string]time.Time // bearer → expiry
	seenReqIDs     map[string]time.Time // x-mc-req-id → x-mc-date
	bindingExpired bool
	feeds          map[string][]feedRow
	feedModes      map[string]FeedMode
	feedCursors    map[string]feedCursor
	feedPageSize   int
	hashes         map[string]Hash
	batchQuota     int
	clicks         []ClickLog
	rewrites       map[string]string // protect token → original URL
	managed        []ManagedURL
	buckets        map[string]*bucket
	counts         map[string]int // arrivals per path
	seq            int
}

// New starts a fake on 127.0.0.1. The caller must Close it. New panics on an
// invalid option, as httptest does on a listener failure.
func New(opts ...Option) *Server {
	cfg := config{
		creds:        DefaultCredentials(),
		clock:        time.Now,
		seed:         DefaultSeed,
		feedRows:     map[string]int{FeedMalwareCustomer: DefaultCustomerRows, FeedMalwareGrid: DefaultGridRows},
		feedPageSize: DefaultFeedPageSize,
		clickLogs:    DefaultClickLogs,
		window:       DefaultDataWindow,
		maxSkew:      DefaultMaxSkew,
		tokenTTL:     DefaultTokenTTL,
		packages:     []string{BYOPackage, "Targeted Threat Protection - URL Protect [1033]", "Targeted Threat Protection - Attachment Protect [1034]"},
		replayCheck:  true,
		authModes:    map[AuthMode]bool{AuthHMAC: true, AuthOAuth: true},
		batchQuota:   -1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	secret, err := base64.StdEncoding.DecodeString(cfg.creds.SecretKey)
	if err != nil {
		panic(fmt.Sprintf("mimecasttest: WithCredentials: SecretKey is not valid base64 (%v); pass the key as Mimecast shows it", err))
	}
	if cfg.feedPageSize <= 0 {
		panic(fmt.Sprintf("mimecasttest: WithFeedPageSize(%d): want at least 1", cfg.feedPageSize))
	}
	if cfg.rateLimit < 0 || (cfg.rateLimit > 0 && cfg.rateRefill <= 0) {
		panic(fmt.Sprintf("mimecasttest: WithRateLimit(%d, %v): want a positive limit and refill", cfg.rateLimit, cfg.rateRefill))
	}
	if cfg.window <= 0 {
		panic(fmt.Sprintf("mimecasttest: WithDataWindow(%v): want a positive duration", cfg.window))
	}
	pkgs := make([]string, 0, len(cfg.packages))
	for _, p := range cfg.packages {
		if cfg.noBYO && p == BYOPackage {
			continue
		}
		pkgs = append(pkgs, p)
	}
	s := &Server{
		cfg:          cfg,
		secret:       secret,
		clock:        cfg.clock,
		creds:        cfg.creds,
		packages:     pkgs,
		rng:          rand.New(rand.NewPCG(uint64(cfg.seed), 0x6d696d6563617374)),
		tokens:       map[string]time.Time{},
		seenReqIDs:   map[string]time.Time{},
		feeds:        map[string][]feedRow{},
		feedModes:    map[string]FeedMode{},
		feedCursors:  map[string]feedCursor{},
		feedPageSize: cfg.feedPageSize,
		hashes:       map[string]Hash{},
		batchQuota:   cfg.batchQuota,
		rewrites:     map[string]string{},
		buckets:      map[string]*bucket{},
		counts:       map[string]int{},
		faults:       fake.NewQueue[fault]("mimecasttest"),
		requests:     fake.NewLog[Request](0),
	}
	base := cfg.clock().UTC().Truncate(time.Second)
	types := make([]string, 0, len(cfg.feedRows))
	for ft := range cfg.feedRows {
		types = append(types, ft)
	}
	sort.Strings(types)
	for _, ft := range types {
		s.feeds[ft] = generateFeed(nil, cfg.seed, ft, cfg.feedRows[ft], base.Add(-cfg.window), base)
	}
	s.clicks = s.generateClickLogs(cfg.clickLogs, base, cfg.window)
	s.srv = fake.Start(s)
	s.URL = s.srv.URL
	return s
}

// NewServer is New for tests: the fake is closed by tb.Cleanup.
func NewServer(tb TB, opts ...Option) *Server {
	tb.Helper()
	s := New(opts...)
	tb.Cleanup(s.Close)
	return s
}

// Close releases every stalled request (it is answered normally) and shuts the
// fake down, waiting for the requests in flight.
func (s *Server) Close() { s.srv.Close() }

// Client returns an *http.Client that reaches the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Credentials returns the credentials the fake accepts.
func (s *Server) Credentials() Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creds
}

// Requests returns a copy of the request log, oldest first. A request is logged
// just before its response is sent, so it is in the log when the client sees the
// answer.
func (s *Server) Requests() []Request { return s.requests.All() }

// ClearRequests empties the request log and the counters.
func (s *Server) ClearRequests() {
	s.requests.Clear()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
}

// Count returns how many requests arrived at path (any method, any outcome,
// counted on arrival).
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// Counts returns the arrival counters of every path seen.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// SetPackages replaces the account's package list.
func (s *Server) SetPackages(pkgs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packages = append([]string(nil), pkgs...)
}

// SetBindingExpired makes every HMAC request fail with 418 err_xdk_binding_expired
// (true) or succeed again (false).
func (s *Server) SetBindingExpired(expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bindingExpired = expired
}

// ExpireTokens expires every bearer token issued so far; requests carrying one
// get 401 token_expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for tok := range s.tokens {
		s.tokens[tok] = now
	}
}

// SetBatchQuota sets how many more create-batch requests succeed (negative:
// unlimited, 0: spent now).
func (s *Server) SetBatchQuota(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchQuota = n
}

// BatchQuota returns the create-batch requests left (negative: unlimited).
func (s *Server) BatchQuota() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batchQuota
}

// handler serves one API endpoint. It writes into w, which is buffered.
type handler func(s *Server, w *bufWriter, req *apiRequest, r *http.Request)

var routes = map[string]handler{
	PathGetAccount:        (*Server).handleGetAccount,
	PathGetFeed:           (*Server).handleGetFeed,
	PathCreateBatch:       (*Server).handleCreateBatch,
	PathGetLogs:           (*Server).handleGetLogs,
	PathDecodeURL:         (*Server).handleDecodeURL,
	PathCreateManagedURL:  (*Server).handleCreateManagedURL,
	PathGetAllManagedURLs: (*Server).handleGetAllManagedURLs,
	PathDeleteManagedURL:  (*Server).handleDeleteManagedURL,
}

// bufWriter buffers a response so the request is logged before the client can
// see the answer.
type bufWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufWriter() *bufWriter { return &bufWriter{header: http.Header{}} }

func (b *bufWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// ServeHTTP implements http.Handler, so the fake can also be mounted elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entry := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	if entry.Header.Get("Authorization") != "" {
		entry.Header.Set("Authorization", "[redacted]")
	}
	entry.Auth = presentedAuth(r)
	entry.ReqID = r.Header.Get("x-mc-req-id")
	entry.Date = r.Header.Get("x-mc-date")
	s.mu.Lock()
	entry.Time = s.clock()
	s.counts[r.URL.Path]++
	s.mu.Unlock()

	bw := newBufWriter()
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	entry.BodySize = len(body)
	if r.URL.Path != PathToken {
		entry.Body = body
	}
	reset := false
	switch {
	case err != nil:
		writeFail(bw, http.StatusBadRequest, nil, apiError{Code: "err_request_invalid", Message: "could not read the request body: " + err.Error()})
	case len(body) > MaxBodyBytes:
		writeFail(bw, http.StatusRequestEntityTooLarge, nil, apiError{Code: "err_request_too_large", Message: fmt.Sprintf("request body over %d bytes", MaxBodyBytes)})
	default:
		reset = s.serve(bw, r, body, &entry)
	}
	entry.Status = bw.status
	if reset {
		entry.Status = 0
	} else if entry.Status == 0 {
		entry.Status = http.StatusOK
	}
	s.requests.Add(entry)
	if reset {
		resetConn(w)
		return
	}
	bw.flush(w)
}

// serve routes, authenticates, applies faults and runs the handler. It reports
// whether the connection must be reset instead of answered.
func (s *Server) serve(w *bufWriter, r *http.Request, body []byte, entry *Request) (reset bool) {
	h, known := routes[r.URL.Path]
	if !known && r.URL.Path != PathToken {
		writeFail(w, http.StatusNotFound, nil, apiError{Code: "err_resource_not_found", Message: "No endpoint " + r.URL.Path})
		return false
	}
	if r.Method != http.MethodPost {
		w.header.Set("Allow", http.MethodPost)
		writeFail(w, http.StatusMethodNotAllowed, nil, apiError{Code: "err_method_not_allowed", Message: "Use POST for all API endpoints, not " + r.Method})
		return false
	}
	var who string
	if r.URL.Path == PathToken {
		form, ok := s.tokenClient(w, r, body)
		if !ok {
			return false
		}
		who = form
	} else {
		var ok bool
		who, ok = s.authenticate(w, r)
		if !ok {
			return false
		}
	}
	miscount := -1
	if f, ok := s.faults.Take(r.URL.Path); ok {
		entry.Fault = f.kind
		if f.kind == FaultHashCount {
			miscount = f.count
		} else if done, rst := s.applyFault(w, r, f); done {
			return rst
		}
	}
	if s.rateLimited(w, who) {
		entry.Fault = "rate_limit"
		return false
	}
	if r.URL.Path == PathToken {
		s.issueToken(w)
		return false
	}
	req, err := decodeRequest(body)
	if err != nil {
		writeFail(w, http.StatusBadRequest, nil, apiError{Code: "err_request_invalid", Message: err.Error()})
		return false
	}
	h(s, w, req, r)
	if miscount >= 0 {
		rewriteHashCount(w, miscount)
	}
	return false
}

// next returns a fresh sequence number (s.mu held).
func (s *Server) next() int {
	s.seq++
	return s.seq
}

// opaque returns a deterministic opaque token with the given prefix (s.mu held).
func (s *Server) opaque(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 0, len(prefix)+28)
	b = append(b, prefix...)
	for range 24 {
		b = append(b, alphabet[s.rng.IntN(len(alphabet))])
	}
	return string(b) + strconv.Itoa(s.next())
}

// TB is the part of testing.TB that NewServer uses; *testing.T, *testing.B and
// *testing.F satisfy it. Taking this rather than testing.TB keeps the testing
// package out of programs that start the fake with New, such as the cte demo.
type TB interface {
	Helper()
	Cleanup(func())
}
