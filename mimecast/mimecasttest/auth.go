package mimecasttest

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// presentedAuth names the scheme of the credentials a request carries.
func presentedAuth(r *http.Request) AuthMode {
	if r.URL.Path == PathToken {
		return AuthOAuth
	}
	a := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(a, "MC "):
		return AuthHMAC
	case len(a) > 7 && strings.EqualFold(a[:7], "Bearer "):
		return AuthOAuth
	}
	return AuthNone
}

// hmacFail writes an API 1.0 authentication failure.
func hmacFail(w *bufWriter, status int, code, message string) {
	writeFail(w, status, nil, apiError{Code: code, Message: message})
}

// oauthFail writes an API 2.0 authentication failure: {"fail":[{"code":..,"message":..}]}.
func oauthFail(w *bufWriter, code, message string) {
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, http.StatusUnauthorized, struct {
		Fail []item `json:"fail"`
	}{[]item{{code, message}}})
}

// authenticate checks the credentials of an API request. It returns the
// rate-limit bucket key, or writes the failure and returns false.
func (s *Server) authenticate(w *bufWriter, r *http.Request) (string, bool) {
	switch presentedAuth(r) {
	case AuthHMAC:
		if !s.cfg.authModes[AuthHMAC] {
			hmacFail(w, http.StatusUnauthorized, "err_xdk_auth_mode_not_allowed", "API 1.0 (HMAC) authentication is not enabled for this application; use a bearer token")
			return "", false
		}
		return s.checkHMAC(w, r)
	case AuthOAuth:
		if !s.cfg.authModes[AuthOAuth] {
			oauthFail(w, "unauthorized", "API 2.0 bearer tokens are not enabled for this application")
			return "", false
		}
		return s.checkBearer(w, r)
	}
	if !s.cfg.authModes[AuthHMAC] {
		oauthFail(w, "unauthorized", "Unauthorized Request")
		return "", false
	}
	hmacFail(w, http.StatusUnauthorized, "err_xdk_credentials_missing", "0001 Credentials are missing from the request")
	return "", false
}

// parseAuthorization splits an API 1.0 header "MC <accessKey>:<signature>".
func parseAuthorization(h string) (accessKey, sig string, err error) {
	rest, ok := strings.CutPrefix(h, "MC ")
	if !ok {
		return "", "", errors.New(`authorization does not start with "MC "`)
	}
	accessKey, sig, ok = strings.Cut(rest, ":")
	if !ok || accessKey == "" || sig == "" {
		return "", "", errors.New(`authorization is not "MC <accessKey>:<signature>"`)
	}
	return accessKey, sig, nil
}

// parseDate parses an x-mc-date value ("Tue, 24 Nov 2015 12:50:11 UTC"; a
// "GMT" suffix is accepted too).
func parseDate(v string) (time.Time, error) {
	head, ok := strings.CutSuffix(v, " UTC")
	if !ok {
		head, ok = strings.CutSuffix(v, " GMT")
	}
	if !ok {
		return time.Time{}, fmt.Errorf("x-mc-date %q does not end in \" UTC\"", v)
	}
	t, err := time.ParseInLocation(DateLayout, head, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("x-mc-date %q is not like %q: %w", v, DateLayout+" UTC", err)
	}
	return t, nil
}

// signature computes the API 1.0 signature the fake expects:
// base64(HMAC-SHA1(base64decode(secretKey), date:reqID:path:appKey)).
func signature(secret []byte, date, reqID, path, appKey string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(date + ":" + reqID + ":" + path + ":" + appKey))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Server) checkHMAC(w *bufWriter, r *http.Request) (string, bool) {
	accessKey, sig, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		hmacFail(w, http.StatusUnauthorized, "err_xdk_credentials_missing", "0001 Credentials are missing from the request: "+err.Error())
		return "", false
	}
	date, reqID, appID := r.Header.Get("x-mc-date"), r.Header.Get("x-mc-req-id"), r.Header.Get("x-mc-app-id")
	var missing []string
	for _, h := range [][2]string{{"x-mc-date", date}, {"x-mc-req-id", reqID}, {"x-mc-app-id", appID}} {
		if h[1] == "" {
			missing = append(missing, h[0])
		}
	}
	if len(missing) > 0 {
		hmacFail(w, http.StatusUnauthorized, "err_xdk_credentials_missing", "0001 Credentials are missing from the request: no "+strings.Join(missing, ", "))
		return "", false
	}
	s.mu.Lock()
	creds, expired := s.creds, s.bindingExpired
	now := s.clock()
	s.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(accessKey), []byte(creds.AccessKey)) != 1 {
		hmacFail(w, http.StatusUnauthorized, "err_xdk_access_key_not_found", "0002 Access key not found")
		return "", false
	}
	if appID != creds.AppID {
		hmacFail(w, http.StatusUnauthorized, "err_xdk_app_id_mismatch", "0005 Application ID does not match the access key")
		return "", false
	}
	if expired {
		hmacFail(w, http.StatusTeapot, "err_xdk_binding_expired", "AccessKey has expired")
		return "", false
	}
	t, err := parseDate(date)
	if err != nil {
		hmacFail(w, http.StatusUnauthorized, "err_xdk_invalid_date", "Invalid Date Header: "+err.Error())
		return "", false
	}
	if d := now.Sub(t); d > s.cfg.maxSkew || d < -s.cfg.maxSkew {
		hmacFail(w, http.StatusUnauthorized, "err_xdk_date_header_too_skewed", SkewMessage)
		return "", false
	}
	want := signature(s.secret, date, reqID, r.URL.Path, creds.AppKey)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		hmacFail(w, http.StatusUnauthorized, "err_xdk_invalid_signature", "0004 Invalid Signature")
		return "", false
	}
	if s.cfg.replayCheck {
		s.mu.Lock()
		_, seen := s.seenReqIDs[reqID]
		if !seen {
			s.seenReqIDs[reqID] = t
			// Forget ids whose date is out of the window: they fail the skew check anyway.
			if len(s.seenReqIDs)%1024 == 0 {
				for id, at := range s.seenReqIDs {
					if now.Sub(at) > 2*s.cfg.maxSkew {
						delete(s.seenReqIDs, id)
					}
				}
			}
		}
		s.mu.Unlock()
		if seen {
			hmacFail(w, http.StatusUnauthorized, "err_xdk_request_id_reused", "Request ID "+reqID+" was already used; sign every request with a fresh x-mc-req-id")
			return "", false
		}
	}
	return "hmac:" + accessKey, true
}

func (s *Server) checkBearer(w *bufWriter, r *http.Request) (string, bool) {
	tok := strings.TrimSpace(r.Header.Get("Authorization")[7:])
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	now := s.clock()
	id := s.creds.ClientID
	s.mu.Unlock()
	switch {
	case !ok:
		oauthFail(w, "unauthorized", "Unauthorized Request")
		return "", false
	case !now.Before(exp):
		oauthFail(w, "token_expired", "Token expired")
		return "", false
	}
	return "oauth:" + id, true
}

// oauthError writes an RFC 6749 token endpoint error.
func oauthError(w *bufWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// tokenClient checks a client-credentials token request. The client may
// authenticate with HTTP Basic (URL-encoded id and secret, as x/oauth2 sends
// them) or with form fields.
func (s *Server) tokenClient(w *bufWriter, r *http.Request, body []byte) (string, bool) {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Content-Type %q is not application/x-www-form-urlencoded", ct))
		return "", false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the form body is not valid: "+err.Error())
		return "", false
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported; use client_credentials", gt))
		return "", false
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
		if v, err := url.QueryUnescape(u); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(p); err == nil {
			secret = v
		}
	}
	if id == "" || secret == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id and client_secret are required")
		return "", false
	}
	s.mu.Lock()
	creds := s.creds
	s.mu.Unlock()
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(creds.ClientID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(creds.ClientSecret))
	if idOK&secretOK != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return "", false
	}
	return "oauth:" + id, true
}

// issueToken answers a valid token request.
func (s *Server) issueToken(w *bufWriter) {
	s.mu.Lock()
	tok := s.opaque("")
	s.tokens[tok] = s.clock().Add(s.cfg.tokenTTL)
	s.mu.Unlock()
	w.header.Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.cfg.tokenTTL / time.Second),
	})
}

// bucket is a token bucket refilled one request per refill interval.
type bucket struct {
	tokens int
	last   time.Time
}

// rateLimited applies WithRateLimit to the credential who and writes a 429 when
// its bucket is empty.
func (s *Server) rateLimited(w *bufWriter, who string) bool {
	if s.cfg.rateLimit <= 0 {
		return false
	}
	s.mu.Lock()
	now := s.clock()
	b, ok := s.buckets[who]
	if !ok {
		b = &bucket{tokens: s.cfg.rateLimit, last: now}
		s.buckets[who] = b
	}
	if n := int(now.Sub(b.last) / s.cfg.rateRefill); n > 0 {
		b.tokens = min(s.cfg.rateLimit, b.tokens+n)
		b.last = b.last.Add(time.Duration(n) * s.cfg.rateRefill)
	}
	if b.tokens > 0 {
		if b.tokens == s.cfg.rateLimit {
			b.last = now
		}
		b.tokens--
		s.mu.Unlock()
		return false
	}
	wait := b.last.Add(s.cfg.rateRefill).Sub(now)
	s.mu.Unlock()
	write429(w, s.cfg.rateLimit, wait)
	return true
}

// write429 writes Mimecast's rate-limit answer.
func write429(w *bufWriter, limit int, reset time.Duration) {
	w.header.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	w.header.Set("X-RateLimit-Remaining", "0")
	w.header.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Milliseconds(), 10))
	writeFail(w, http.StatusTooManyRequests, nil, apiError{Code: "err_xdk_rate_limit_exceeded", Message: "Quota Exceeded", Retryable: true})
}
