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
)

// FaultKind is the kind of an injected failure.
type FaultKind int

// Fault kinds.
const (
	// FaultStatus answers with Fault.Status and Fault.Body without handling the request.
	FaultStatus FaultKind = iota + 1
	// FaultReset closes the connection without an answer, before handling the request.
	FaultReset
	// FaultBreak handles the request (its effects happen, an iterator cursor moves),
	// announces the whole body in Content-Length, sends half of it and drops the
	// connection.
	FaultBreak
	faultStall
)

// String returns "status", "reset", "break" or "stall".
func (k FaultKind) String() string {
	switch k {
	case FaultStatus:
		return "status"
	case FaultReset:
		return "reset"
	case FaultBreak:
		return "break"
	case faultStall:
		return "stall"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// Fault is a failure injected into the next matching requests. Faults fire before
// authentication and rate limiting, in the order they were added.
type Fault struct {
	Kind FaultKind
	// Path limits the fault to requests whose path starts with it; "" matches all.
	Path string
	// Times is how many requests the fault hits (at least 1).
	Times int
	// Status is the FaultStatus code (default 500).
	Status int
	// Body is the FaultStatus body; empty gives the tenant's usual error body for
	// Status (v1 envelope on /api/v1, {"message": ...} on v2).
	Body string
	// RetryAfter is the Retry-After value in seconds sent with a 429 (default 0). On
	// v2 paths it is also RateLimit-Reset, with RateLimit-Remaining: 0.
	RetryAfter int
}

type fault struct {
	kind       FaultKind
	path       string
	left       int
	status     int
	body       string
	retryAfter int
	stall      *Stall
}

// AddFault queues f.
func (s *Server) AddFault(f Fault) {
	if f.Kind < FaultStatus || f.Kind > FaultBreak {
		panic(fmt.Sprintf("netskopetest: AddFault: invalid kind %v", f.Kind))
	}
	if f.Times < 1 {
		f.Times = 1
	}
	if f.Kind == FaultStatus && f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	s.addFault(&fault{kind: f.Kind, path: f.Path, left: f.Times, status: f.Status, body: f.Body, retryAfter: f.RetryAfter})
}

func (s *Server) addFault(f *fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// Fail429 answers the next n requests with 429 and Retry-After: retryAfter seconds.
func (s *Server) Fail429(n, retryAfter int) {
	s.AddFault(Fault{Kind: FaultStatus, Times: n, Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
}

// Fail5xx answers the next n requests with status (500 to 599).
func (s *Server) Fail5xx(n, status int) {
	if status < 500 || status > 599 {
		panic(fmt.Sprintf("netskopetest: Fail5xx: status %d is not 5xx", status))
	}
	s.AddFault(Fault{Kind: FaultStatus, Times: n, Status: status})
}

// ResetNext drops the connection of the next n requests without an answer. Go's
// transport may silently resend an idempotent request once on a reused connection;
// count that attempt in n.
func (s *Server) ResetNext(n int) { s.AddFault(Fault{Kind: FaultReset, Times: n}) }

// BreakNext handles the next n requests and then breaks their bodies halfway.
func (s *Server) BreakNext(n int) { s.AddFault(Fault{Kind: FaultBreak, Times: n}) }

// Stall holds requests until the test releases them.
type Stall struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// Arrived receives once for each stalled request as it starts waiting.
func (st *Stall) Arrived() <-chan struct{} { return st.arrived }

// Release lets every request held by st (and any later one it catches) proceed. It
// is idempotent.
func (st *Stall) Release() { st.once.Do(func() { close(st.release) }) }

// SlowNext holds the next n requests matching path (a prefix; "" for all) until
// Release is called, the client gives up, or the server closes; released requests
// are then handled normally.
func (s *Server) SlowNext(path string, n int) *Stall {
	if n < 1 {
		n = 1
	}
	st := &Stall{arrived: make(chan struct{}, n), release: make(chan struct{})}
	s.addFault(&fault{kind: faultStall, path: path, left: n, stall: st})
	return st
}

// PendingFaults returns how many injected failures have not fired yet.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.left
	}
	return n
}

func (s *Server) takeFault(path string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.path != "" && !strings.HasPrefix(path, f.path) {
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
