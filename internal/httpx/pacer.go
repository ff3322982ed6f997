package httpx

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxPace bounds how long a Pacer holds requests back on one server answer.
const MaxPace = 5 * time.Minute

// NewPacer returns a RoundTripper that honours a server's RateLimit-Remaining and
// RateLimit-Reset headers (the IETF RateLimit header draft): after an answer with
// Remaining 0, the next requests wait until the window resets (at most MaxPace).
// A nil next is http.DefaultTransport; a nil clock is time.Now. Waiting stops when
// the request's context ends.
func NewPacer(next http.RoundTripper, clock func() time.Time) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if clock == nil {
		clock = time.Now
	}
	return &pacer{next: next, now: clock}
}

type pacer struct {
	next http.RoundTripper
	now  func() time.Time

	mu    sync.Mutex
	until time.Time
}

func (p *pacer) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	wait := p.until.Sub(p.now())
	p.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
	}
	resp, err := p.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if strings.TrimSpace(resp.Header.Get("RateLimit-Remaining")) == "0" {
		if n, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("RateLimit-Reset")), 10, 64); err == nil && n > 0 {
			d := min(time.Duration(n)*time.Second, MaxPace)
			p.mu.Lock()
			if u := p.now().Add(d); u.After(p.until) {
				p.until = u
			}
			p.mu.Unlock()
		}
	}
	return resp, nil
}
