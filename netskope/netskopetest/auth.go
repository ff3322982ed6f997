package netskopetest

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HeaderV2Token is the REST API v2 token header.
const HeaderV2Token = "Netskope-Api-Token"

type window struct {
	second int64
	count  int
}

// checkV2 authenticates a v2 request, checks the token's scope and spends one unit of
// the endpoint's rate budget. It returns the RateLimit-* headers and, when the
// request must be refused, the refusal.
func (s *Server) checkV2(r *http.Request, budget string) (http.Header, *reply) {
	h := http.Header{}
	tok := r.Header.Get(HeaderV2Token)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.v2Window(budget)
	setRate := func(remaining int) {
		h.Set("RateLimit-Limit", strconv.Itoa(s.cfg.v2Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("RateLimit-Reset", "1")
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.v2Token)) != 1 {
		setRate(max(s.cfg.v2Limit-w.count, 0))
		msg := "Unauthorized: invalid " + HeaderV2Token
		if tok == "" {
			msg = "Unauthorized: missing " + HeaderV2Token + " header"
		}
		rep := v2Message(http.StatusUnauthorized, msg)
		return h, &rep
	}
	if !s.inScope(r.URL.Path) {
		setRate(max(s.cfg.v2Limit-w.count, 0))
		rep := v2Message(http.StatusForbidden, "Forbidden: the API token has no privilege for "+r.URL.Path)
		return h, &rep
	}
	if w.count >= s.cfg.v2Limit {
		setRate(0)
		h.Set("Retry-After", "1")
		rep := v2Message(http.StatusTooManyRequests, "API rate limit exceeded")
		return h, &rep
	}
	w.count++
	setRate(s.cfg.v2Limit - w.count)
	return h, nil
}

// v2Window returns the current one-second window of budget. s.mu must be held.
func (s *Server) v2Window(budget string) *window {
	sec := s.now().Unix()
	w := s.v2Windows[budget]
	if w == nil {
		w = &window{second: sec}
		s.v2Windows[budget] = w
	}
	if w.second != sec {
		w.second, w.count = sec, 0
	}
	return w
}

func (s *Server) inScope(path string) bool {
	if !s.cfg.scopesSet {
		return true
	}
	for _, sc := range s.cfg.scopes {
		p := string(sc)
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// allowV1 spends one unit of the v1 sliding-window budget. When the budget is spent
// it returns false and the seconds until a unit frees up.
func (s *Server) allowV1() (bool, int) {
	if s.cfg.v1Limit == 0 {
		return true, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cut := now.Add(-s.cfg.v1Window)
	i := 0
	for i < len(s.v1Times) && !s.v1Times[i].After(cut) {
		i++
	}
	s.v1Times = s.v1Times[i:]
	if len(s.v1Times) >= s.cfg.v1Limit {
		wait := s.v1Times[0].Add(s.cfg.v1Window).Sub(now)
		return false, max(int((wait+time.Second-1)/time.Second), 1)
	}
	s.v1Times = append(s.v1Times, now)
	return true, 0
}

func (s *Server) v1TokenOK(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.v1Token)) == 1
}
