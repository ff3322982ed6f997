package netskopetest

import (
	"fmt"
	"time"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	clock       func() time.Time
	seed        int64
	v1Token     string
	v2Token     string
	scopes      []Scope
	scopesSet   bool
	hashLists   []hashListSpec
	urlLists    []urlListSpec
	alertCounts map[string]int
	alertSpan   time.Duration
	pageSize    int
	waitTime    int
	v1Limit     int
	v1Window    time.Duration
	v2Limit     int
	gzip        bool
}

type hashListSpec struct {
	name    string
	initial []string
	types   hashTypes
}

type urlListSpec struct {
	name, typ string
	urls      []string
}

// Default numbers of seeded alerts.
const (
	DefaultMalwareAlerts = 100
	DefaultMalsiteAlerts = 40
	// DefaultAlertSpan is how far back seeded alert timestamps reach from the clock.
	DefaultAlertSpan = 72 * time.Hour
)

func defaultConfig() config {
	return config{
		clock:       time.Now,
		seed:        1,
		alertCounts: map[string]int{KindMalware: DefaultMalwareAlerts, KindMalsite: DefaultMalsiteAlerts},
		alertSpan:   DefaultAlertSpan,
		pageSize:    MaxPageSize,
		v1Limit:     DefaultV1Limit,
		v1Window:    DefaultV1Window,
		v2Limit:     DefaultV2Limit,
		gzip:        true,
	}
}

// WithClock sets the server clock: seeded alert timestamps, epoch operations,
// timestamp_hwm, modify_time and the rate-limit windows all read it. With a frozen
// clock the rate-limit windows never roll over; advance the clock to refill them.
func WithClock(now func() time.Time) Option {
	if now == nil {
		panic("netskopetest: WithClock(nil)")
	}
	return func(c *config) { c.clock = now }
}

// WithSeed sets the seed of the generated alerts and default tokens (default 1). The
// same seed and clock give the same alerts.
func WithSeed(seed int64) Option { return func(c *config) { c.seed = seed } }

// WithV1Token sets the REST API v1 token the tenant accepts.
func WithV1Token(token string) Option {
	if token == "" {
		panic("netskopetest: WithV1Token: empty token")
	}
	return func(c *config) { c.v1Token = token }
}

// WithV2Token sets the REST API v2 token the tenant accepts.
func WithV2Token(token string) Option {
	if token == "" {
		panic("netskopetest: WithV2Token: empty token")
	}
	return func(c *config) { c.v2Token = token }
}

// WithV2Scopes sets the endpoints the v2 token may call; calls elsewhere get 403. The
// default is every endpoint. WithV2Scopes() with no scope makes a token that is valid
// but may call nothing.
func WithV2Scopes(scopes ...Scope) Option {
	return func(c *config) {
		c.scopes = append([]Scope(nil), scopes...)
		c.scopesSet = true
	}
}

// WithFileHashList creates a File Profile hash list that updateFileHashList may
// replace, holding initial. The list takes MD5 and SHA256 values unless
// WithFileHashListTypes narrows it. Names are case-sensitive.
func WithFileHashList(name string, initial ...string) Option {
	if name == "" {
		panic("netskopetest: WithFileHashList: empty name")
	}
	return func(c *config) {
		for i := range c.hashLists {
			if c.hashLists[i].name == name {
				c.hashLists[i].initial = append([]string(nil), initial...)
				return
			}
		}
		c.hashLists = append(c.hashLists, hashListSpec{name: name, initial: append([]string(nil), initial...), types: hashMD5 | hashSHA256})
	}
}

// WithFileHashListTypes restricts the hash types the named list takes: "md5",
// "sha256" or both (a SHA256 File Profile takes only "sha256"). It creates the list
// if needed.
func WithFileHashListTypes(name string, types ...string) Option {
	var t hashTypes
	for _, ty := range types {
		switch ty {
		case "md5":
			t |= hashMD5
		case "sha256":
			t |= hashSHA256
		default:
			panic(fmt.Sprintf("netskopetest: WithFileHashListTypes: unknown type %q: use md5 or sha256", ty))
		}
	}
	if t == 0 {
		panic("netskopetest: WithFileHashListTypes: no type given")
	}
	return func(c *config) {
		for i := range c.hashLists {
			if c.hashLists[i].name == name {
				c.hashLists[i].types = t
				return
			}
		}
		c.hashLists = append(c.hashLists, hashListSpec{name: name, types: t})
	}
}

// WithURLList creates a deployed URL list (ids are given from 1 in option order).
// typ is "exact" or "regex". The values are stored as given, without validation.
func WithURLList(name, typ string, urls ...string) Option {
	if typ != "exact" && typ != "regex" {
		panic(fmt.Sprintf("netskopetest: WithURLList: type %q: use exact or regex", typ))
	}
	return func(c *config) {
		c.urlLists = append(c.urlLists, urlListSpec{name: name, typ: typ, urls: append([]string(nil), urls...)})
	}
}

// WithAlerts sets how many alerts of kind (KindMalware or KindMalsite) are generated
// at start, spread over the alert span before the clock. Defaults:
// DefaultMalwareAlerts and DefaultMalsiteAlerts.
func WithAlerts(kind string, n int) Option {
	if kind != KindMalware && kind != KindMalsite {
		panic(fmt.Sprintf("netskopetest: WithAlerts: kind %q: use %q or %q", kind, KindMalware, KindMalsite))
	}
	if n < 0 {
		panic(fmt.Sprintf("netskopetest: WithAlerts: negative count %d", n))
	}
	return func(c *config) { c.alertCounts[kind] = n }
}

// WithAlertSpan sets how far back from the clock the seeded alerts reach (default
// DefaultAlertSpan).
func WithAlertSpan(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("netskopetest: WithAlertSpan: %v is not positive", d))
	}
	return func(c *config) { c.alertSpan = d }
}

// WithPageSize sets the iterator page size, 1 to MaxPageSize (the default).
func WithPageSize(n int) Option {
	if n < 1 || n > MaxPageSize {
		panic(fmt.Sprintf("netskopetest: WithPageSize: %d outside 1..%d", n, MaxPageSize))
	}
	return func(c *config) { c.pageSize = n }
}

// WithWaitTime sets the wait_time (seconds) every iterator page carries (default 0).
func WithWaitTime(seconds int) Option {
	if seconds < 0 {
		panic(fmt.Sprintf("netskopetest: WithWaitTime: negative %d", seconds))
	}
	return func(c *config) { c.waitTime = seconds }
}

// WithV1RateLimit sets the v1 budget: n requests per sliding window per (default 24
// per 5 s); request n+1 within the window gets 429. n = 0 disables the check.
func WithV1RateLimit(n int, per time.Duration) Option {
	if n < 0 || per <= 0 {
		panic(fmt.Sprintf("netskopetest: WithV1RateLimit(%d, %v): want n >= 0 and a positive window", n, per))
	}
	return func(c *config) { c.v1Limit, c.v1Window = n, per }
}

// WithV2RateLimit sets the v2 budget in requests per second per endpoint (each alert
// type's iterator, URL lists) (default DefaultV2Limit).
func WithV2RateLimit(perSecond int) Option {
	if perSecond < 1 {
		panic(fmt.Sprintf("netskopetest: WithV2RateLimit: %d is not positive", perSecond))
	}
	return func(c *config) { c.v2Limit = perSecond }
}

// WithGzip sets whether iterator pages are gzip-encoded for clients that send
// Accept-Encoding: gzip (default true).
func WithGzip(on bool) Option { return func(c *config) { c.gzip = on } }
