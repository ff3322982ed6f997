package mimecasttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ctexchange/cte/internal/fake"
)

// Fault knobs. Each knob queues a fault for the next n authenticated requests
// whose path matches. A path matches exactly, except that "" and "/" match every
// path and a path ending in "/" matches by prefix ("/api/" is every API call but
// not /oauth/token). Faults are consumed in the order they were queued, so a
// test can script a sequence: RateLimit(p, 2, d) then ServerError(p, 1, 503)
// answers 429, 429, 503, then normally. Faults apply after the credentials
// were accepted, like a real rate limiter. Every knob may be called while the
// fake serves requests; each panics when n < 1.

// fault is one queued fault; the queue keeps its path and count.
type fault struct {
	kind    string
	status  int
	reset   time.Duration
	code    string
	message string
	delay   time.Duration
	gate    *Gate
	count   int
}

// Fault kinds, as recorded in Request.Fault.
const (
	FaultRateLimit    = "rate_limit"
	FaultServerError  = "server_error"
	FaultReset        = "reset"
	FaultFailEnvelope = "fail_envelope"
	FaultUnauthorized = "unauthorized"
	FaultSkew         = "skew"
	FaultDelay        = "delay"
	FaultStall        = "stall"
	FaultHashCount    = "hash_count"
)

// PendingFaults returns how many faulted requests are still queued.
func (s *Server) PendingFaults() int { return s.faults.Pending() }

// RateLimit answers the next n matching requests with 429 and
// X-RateLimit-Reset: reset in milliseconds (plus X-RateLimit-Limit and
// X-RateLimit-Remaining: 0), body code err_xdk_rate_limit_exceeded.
func (s *Server) RateLimit(path string, n int, reset time.Duration) {
	s.faults.Add("RateLimit", path, n, fault{kind: FaultRateLimit, reset: reset})
}

// ServerError answers the next n matching requests with status (500 when 0)
// and a fail envelope with retryable true.
func (s *Server) ServerError(path string, n int, status int) {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	s.faults.Add("ServerError", path, n, fault{kind: FaultServerError, status: status})
}

// ResetConnection makes the next n matching requests end with a TCP reset
// instead of an answer (the request was read, so a create-batch may be
// considered applied or not: the fake does not apply it).
func (s *Server) ResetConnection(path string, n int) {
	s.faults.Add("ResetConnection", path, n, fault{kind: FaultReset})
}

// FailEnvelope answers the next n matching requests with HTTP 200 and a
// whole-request fail[] carrying code and message, without running the
// endpoint. On get-feed this is the JSON-instead-of-CSV answer.
func (s *Server) FailEnvelope(path string, n int, code, message string) {
	s.faults.Add("FailEnvelope", path, n, fault{kind: FaultFailEnvelope, code: code, message: message})
}

// Quota answers the next n matching requests with HTTP 200 and the quota fail
// (QuotaMessage), as create-batch does when the quota is spent.
func (s *Server) Quota(path string, n int) {
	s.FailEnvelope(path, n, "err_byo_quota_exceeded", QuotaMessage)
}

// Unauthorized answers the next n matching requests with 401 as if the
// credential had just become invalid: token_expired for a bearer request,
// err_xdk_invalid_signature for an HMAC one. Use it for the refresh-once path.
func (s *Server) Unauthorized(path string, n int) {
	s.faults.Add("Unauthorized", path, n, fault{kind: FaultUnauthorized})
}

// SkewDate answers the next n matching requests with 401 "Date Header Too
// Skewed", whatever their x-mc-date.
func (s *Server) SkewDate(path string, n int) {
	s.faults.Add("SkewDate", path, n, fault{kind: FaultSkew})
}

// Delay holds the next n matching requests for d before answering normally
// (or until the client gives up). Prefer Stall in tests: it needs no sleeping.
func (s *Server) Delay(path string, n int, d time.Duration) {
	s.faults.Add("Delay", path, n, fault{kind: FaultDelay, delay: d})
}

// Stall holds the next n matching requests until the returned gate is
// released (or the client gives up, or the fake is closed), then answers them
// normally.
func (s *Server) Stall(path string, n int) *Gate {
	g := fake.NewGate(n)
	s.faults.Add("Stall", path, n, fault{kind: FaultStall, gate: g})
	return g
}

// MiscountBatch makes the next n create-batch requests apply their hashes as
// usual but answer with hashCount set to count in every data item, as a
// Mimecast answer that does not confirm what it took. count must be at least 0.
func (s *Server) MiscountBatch(n, count int) {
	if count < 0 {
		panic(fmt.Sprintf("mimecasttest: MiscountBatch(%d, %d): count must be at least 0", n, count))
	}
	s.faults.Add("MiscountBatch", PathCreateBatch, n, fault{kind: FaultHashCount, count: count})
}

// rewriteHashCount sets hashCount in every data item of the envelope in w.
func rewriteHashCount(w *bufWriter, count int) {
	var env map[string]any
	if json.Unmarshal(w.body.Bytes(), &env) != nil {
		return
	}
	items, _ := env["data"].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			m["hashCount"] = count
		}
	}
	b, err := json.Marshal(env)
	if err != nil {
		return
	}
	w.body.Reset()
	w.body.Write(b)
}

// Gate holds stalled requests; see Server.Stall.
type Gate = fake.Gate

// applyFault answers r according to f. done reports that the answer is
// written (or the request abandoned); reset that the connection must be reset.
func (s *Server) applyFault(w *bufWriter, r *http.Request, f fault) (done, reset bool) {
	switch f.kind {
	case FaultRateLimit:
		limit := s.cfg.rateLimit
		if limit == 0 {
			limit = 100
		}
		write429(w, limit, f.reset)
	case FaultServerError:
		writeFail(w, f.status, nil, apiError{Code: "err_internal_server_error", Message: http.StatusText(f.status), Retryable: true})
	case FaultReset:
		return true, true
	case FaultFailEnvelope:
		validationFail(w, f.code, f.message)
	case FaultUnauthorized:
		if presentedAuth(r) == AuthOAuth {
			oauthFail(w, "token_expired", "Token expired")
		} else {
			hmacFail(w, http.StatusUnauthorized, "err_xdk_invalid_signature", "0004 Invalid Signature")
		}
	case FaultSkew:
		hmacFail(w, http.StatusUnauthorized, "err_xdk_date_header_too_skewed", SkewMessage)
	case FaultDelay:
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
			return false, false
		case <-r.Context().Done():
			return true, false
		}
	case FaultStall:
		// A closing fake lets held requests through, answered normally.
		if err := f.gate.Wait(r.Context(), s.srv.Closing()); err != nil && !errors.Is(err, fake.ErrClosed) {
			return true, false
		}
		return false, false
	}
	return true, false
}

// resetConn aborts the connection under w with a TCP RST.
func resetConn(w http.ResponseWriter) {
	if err := fake.ResetConn(w); errors.Is(err, http.ErrNotSupported) {
		panic("mimecasttest: ResetConnection needs a hijackable connection (HTTP/1.x)")
	}
}
