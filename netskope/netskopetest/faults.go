package netskopetest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault knobs. Each knob queues a fault for the next n requests whose path
// matches. A path matches exactly, except that "" and "/" match every path and a
// path ending in "/" matches by prefix ("/api/v1/" is every v1 call). Faults are
// consumed in the order they were queued, so a test can script a sequence:
// RateLimit(p, 2, 0) then ServerError(p, 1, 503) answers 429, 429, 503, then
// normally. Faults fire before authentication and rate limiting and do not spend
// the rate budget. Every knob may be called while the fake serves requests; each
// panics when n < 1.

// Fault kinds, as recorded in Request.Fault.
const (
	FaultRateLimit   = "rate_limit"
	FaultServerError = "server_error"
	FaultStatus      = "status"
	FaultReset       = "reset"
	FaultBreak       = "break"
	FaultStall       = "stall"
)

type fault struct {
	kind       string
	path       string
	left       int
	status     int
	body       string
	retryAfter int
	gate       *Gate
}

func matchPath(pattern, path string) bool {
	switch {
	case pattern == "" || pattern == "/":
		return true
	case strings.HasSuffix(pattern, "/"):
		return strings.HasPrefix(path, pattern)
	}
	return pattern == path
}

func (s *Server) addFault(knob string, n int, f *fault) {
	if n < 1 {
		panic(fmt.Sprintf("netskopetest: %s(%q, %d): n must be at least 1", knob, f.path, n))
	}
	f.left = n
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// RateLimit answers the next n matching requests with 429, Retry-After: retryAfter
// (whole seconds, rounded up) and the tenant's rate-limit body: the v1 envelope on
// /api/v1, {"message":"API rate limit exceeded"} with RateLimit-Remaining: 0 and
// RateLimit-Reset on v2.
func (s *Server) RateLimit(path string, n int, retryAfter time.Duration) {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	s.addFault("RateLimit", n, &fault{kind: FaultRateLimit, path: path, status: http.StatusTooManyRequests, retryAfter: max(secs, 0)})
}

// ServerError answers the next n matching requests with status (500 when 0; it must
// be 5xx) and the tenant's usual error body.
func (s *Server) ServerError(path string, n int, status int) {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status < 500 || status > 599 {
		panic(fmt.Sprintf("netskopetest: ServerError(%q, %d, %d): status is not 5xx", path, n, status))
	}
	s.addFault("ServerError", n, &fault{kind: FaultServerError, path: path, status: status})
}

// FailStatus answers the next n matching requests with status and body without
// handling them: an iterator page with "ok":0, a 400 from deploy, a 409, a 503 with
// an HTML maintenance page. An empty body gives the tenant's usual error body.
func (s *Server) FailStatus(path string, n int, status int, body string) {
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("netskopetest: FailStatus(%q, %d, %d): invalid status", path, n, status))
	}
	s.addFault("FailStatus", n, &fault{kind: FaultStatus, path: path, status: status, body: body})
}

// ResetConnection ends the next n matching requests with a TCP reset instead of an
// answer; the request is not handled. Go's transport may silently resend an
// idempotent request once on a reused connection; count that attempt in n.
func (s *Server) ResetConnection(path string, n int) {
	s.addFault("ResetConnection", n, &fault{kind: FaultReset, path: path})
}

// BreakBody handles the next n matching requests (their effects happen: an iterator
// cursor moves, a list is replaced), announces the whole answer in Content-Length,
// sends half of it and drops the connection.
func (s *Server) BreakBody(path string, n int) {
	s.addFault("BreakBody", n, &fault{kind: FaultBreak, path: path})
}

// Stall holds the next n matching requests until the returned gate is released (or
// the client gives up, or the server closes), then handles them normally.
func (s *Server) Stall(path string, n int) *Gate {
	g := &Gate{arrived: make(chan struct{}, max(n, 1)), release: make(chan struct{})}
	s.addFault("Stall", n, &fault{kind: FaultStall, path: path, gate: g})
	return g
}

// Gate holds stalled requests; see Server.Stall.
type Gate struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// Arrived delivers one value per request that reached the gate.
func (g *Gate) Arrived() <-chan struct{} { return g.arrived }

// Release lets every held request, present and future, proceed. It is safe to call
// more than once.
func (g *Gate) Release() { g.once.Do(func() { close(g.release) }) }

// PendingFaults returns how many faulted requests are still queued.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.left
	}
	return n
}

// takeFault consumes one use of the first queued fault matching path.
func (s *Server) takeFault(path string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !matchPath(f.path, path) {
			continue
		}
		f.left--
		if f.left == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

func (s *Server) faultReply(r *http.Request, f *fault) reply {
	v1 := strings.HasPrefix(r.URL.Path, "/api/v1/")
	var rep reply
	switch {
	case f.body != "":
		rep = reply{status: f.status, body: []byte(f.body)}
	case v1 && f.status == http.StatusTooManyRequests:
		rep = v1Error(f.status, "Too Many Requests", "API rate limit exceeded")
	case v1:
		rep = v1Error(f.status, "Server Error", http.StatusText(f.status))
	case f.status == http.StatusTooManyRequests:
		rep = v2Message(f.status, "API rate limit exceeded")
	default:
		rep = v2Message(f.status, http.StatusText(f.status))
	}
	rep.header = http.Header{}
	if f.status == http.StatusTooManyRequests {
		rep.header.Set("Retry-After", strconv.Itoa(f.retryAfter))
	}
	if !v1 {
		reset := 1
		if f.status == http.StatusTooManyRequests {
			reset = f.retryAfter
		}
		rep.header.Set("RateLimit-Limit", strconv.Itoa(s.cfg.v2Limit))
		rep.header.Set("RateLimit-Remaining", "0")
		rep.header.Set("RateLimit-Reset", strconv.Itoa(reset))
	}
	return rep
}

// resetConn closes the client connection abruptly (RST where possible).
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(name, "gzip") {
			return true
		}
	}
	return false
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
