package netskopetest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/internal/fake"
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

// fault is one queued fault; the queue keeps its path and count.
type fault struct {
	kind       string
	status     int
	body       string
	retryAfter int
	gate       *Gate
}

// RateLimit answers the next n matching requests with 429, Retry-After: retryAfter
// (whole seconds, rounded up) and the tenant's rate-limit body: the v1 envelope on
// /api/v1, {"message":"API rate limit exceeded"} with RateLimit-Remaining: 0 and
// RateLimit-Reset on v2.
func (s *Server) RateLimit(path string, n int, retryAfter time.Duration) {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	s.faults.Add("RateLimit", path, n, fault{kind: FaultRateLimit, status: http.StatusTooManyRequests, retryAfter: max(secs, 0)})
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
	s.faults.Add("ServerError", path, n, fault{kind: FaultServerError, status: status})
}

// FailStatus answers the next n matching requests with status and body without
// handling them: an iterator page with "ok":0, a 400 from deploy, a 409, a 503 with
// an HTML maintenance page. An empty body gives the tenant's usual error body.
func (s *Server) FailStatus(path string, n int, status int, body string) {
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("netskopetest: FailStatus(%q, %d, %d): invalid status", path, n, status))
	}
	s.faults.Add("FailStatus", path, n, fault{kind: FaultStatus, status: status, body: body})
}

// ResetConnection ends the next n matching requests with a TCP reset instead of an
// answer; the request is not handled. Go's transport may silently resend an
// idempotent request once on a reused connection; count that attempt in n.
func (s *Server) ResetConnection(path string, n int) {
	s.faults.Add("ResetConnection", path, n, fault{kind: FaultReset})
}

// BreakBody handles the next n matching requests (their effects happen: an iterator
// cursor moves, a list is replaced), announces the whole answer in Content-Length,
// sends half of it and drops the connection.
func (s *Server) BreakBody(path string, n int) {
	s.faults.Add("BreakBody", path, n, fault{kind: FaultBreak})
}

// Stall holds the next n matching requests until the returned gate is released (or
// the client gives up, or the server closes), then handles them normally.
func (s *Server) Stall(path string, n int) *Gate {
	g := fake.NewGate(n)
	s.faults.Add("Stall", path, n, fault{kind: FaultStall, gate: g})
	return g
}

// Gate holds stalled requests; see Server.Stall.
type Gate = fake.Gate

// PendingFaults returns how many faulted requests are still queued.
func (s *Server) PendingFaults() int { return s.faults.Pending() }

func (s *Server) faultReply(r *http.Request, f fault) reply {
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
	if err := fake.ResetConn(w); err != nil {
		panic(http.ErrAbortHandler)
	}
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
