package mimecasttest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ClickLog is one URL Protect click log served by get-logs. Its JSON form is
// Mimecast's; Date is sent in LogTimeLayout.
type ClickLog struct {
	UserEmailAddress      string    `json:"userEmailAddress"`
	FromUserEmailAddress  string    `json:"fromUserEmailAddress"`
	URL                   string    `json:"url"`
	TTPDefinition         string    `json:"ttpDefinition"`
	Subject               string    `json:"subject"`
	Action                string    `json:"action"`
	AdminOverride         string    `json:"adminOverride"`
	UserOverride          string    `json:"userOverride"`
	ScanResult            string    `json:"scanResult"` // "malicious" or "clean"
	Category              string    `json:"category"`
	SendingIP             string    `json:"sendingIp"`
	UserAwarenessAction   string    `json:"userAwarenessAction"`
	Date                  time.Time `json:"-"`
	Actions               string    `json:"actions"`
	Route                 string    `json:"route"` // inbound, outbound or internal
	CreationMethod        string    `json:"creationMethod"`
	EmailPartsDescription []string  `json:"emailPartsDescription"`
	MessageID             string    `json:"messageId"`
	// Decoded is what decode-url answers for URL: the original link for a
	// rewritten one, URL itself for a link that is not rewritten (returned as a
	// fail item without errors), "" when decoding fails. Not sent.
	Decoded string `json:"-"`
}

// clickWire is the JSON form of a ClickLog.
type clickWire struct {
	ClickLog
	Date string `json:"date"`
}

// ManagedURL is one managed URL, as create-managed-url and get-all-managed-urls
// return it. URL (not sent) is the url the entry was created with.
type ManagedURL struct {
	ID                   string `json:"id"`
	Scheme               string `json:"scheme"`
	Domain               string `json:"domain"`
	Port                 int    `json:"port"`
	Path                 string `json:"path"`
	QueryString          string `json:"queryString"`
	MatchType            string `json:"matchType"`
	Action               string `json:"action"`
	Comment              string `json:"comment"`
	DisableUserAwareness bool   `json:"disableUserAwareness"`
	DisableRewrite       bool   `json:"disableRewrite"`
	DisableLogClick      bool   `json:"disableLogClick"`
	URL                  string `json:"-"`
}

// protectHost is the host of rewritten links.
const protectHost = "protect-us.mimecast.com"

// generateClickLogs makes n click logs over window before base, oldest first
// (s.mu not needed: called before serving). Oddities by index i: i%4 == 3 is
// clean; i%20 == 5 repeats the previous URL; i%20 == 11 is a rewritten link
// with an unknown token; i%20 == 17 is not rewritten; i%50 == 19 has an empty
// url.
func (s *Server) generateClickLogs(n int, base time.Time, window time.Duration) []ClickLog {
	logs := make([]ClickLog, 0, max(n, 0))
	step := window / time.Duration(n+1)
	start := base.Add(-window)
	routes := [...]string{"inbound", "outbound", "internal"}
	cats := [...]string{"Phishing & Fraud", "Dangerous file extension", "Malware", "Suspicious"}
	for i := range n {
		host := fmt.Sprintf("evil%02d.example", s.rng.IntN(40))
		orig := fmt.Sprintf("https://%s/%s/%d?id=%d", host, [...]string{"login", "invoice", "payload", "dl"}[s.rng.IntN(4)], i, s.rng.IntN(100000))
		cl := ClickLog{
			UserEmailAddress:      fmt.Sprintf("user%03d@acme.example", s.rng.IntN(300)),
			FromUserEmailAddress:  fmt.Sprintf("sender%03d@%s", s.rng.IntN(300), host),
			TTPDefinition:         "Default Inbound URL Protect Definition",
			Subject:               fmt.Sprintf("Message %d", i),
			Action:                "block",
			AdminOverride:         "N/A",
			UserOverride:          "None",
			ScanResult:            "malicious",
			Category:              cats[i%len(cats)],
			SendingIP:             fmt.Sprintf("198.51.100.%d", 1+s.rng.IntN(254)),
			UserAwarenessAction:   "N/A",
			Date:                  start.Add(step * time.Duration(i+1)).Truncate(time.Second),
			Actions:               "Blocked",
			Route:                 routes[i%len(routes)],
			CreationMethod:        "User Click",
			EmailPartsDescription: []string{"Body"},
			MessageID:             fmt.Sprintf("<%d.%d@%s>", i, s.rng.IntN(1e6), host),
		}
		if i%4 == 3 {
			cl.ScanResult, cl.Action, cl.Actions, cl.Category = "clean", "allow", "Allowed", "Clean"
		}
		switch {
		case i%50 == 19:
			cl.URL, cl.Decoded = "", ""
		case i%20 == 5 && i > 0:
			cl.URL, cl.Decoded = logs[i-1].URL, logs[i-1].Decoded
		case i%20 == 11:
			cl.URL = fmt.Sprintf("https://%s/s/%s?domain=%s", protectHost, s.opaque("Gx"), host)
		case i%20 == 17:
			cl.URL, cl.Decoded = orig, orig
		default:
			cl.URL, cl.Decoded = s.rewrite(orig), orig
		}
		logs = append(logs, cl)
	}
	return logs
}

// rewrite registers orig and returns its rewritten link (s.mu held or not yet serving).
func (s *Server) rewrite(orig string) string {
	tok := s.opaque("")
	s.rewrites[tok] = orig
	host := orig
	if u, err := url.Parse(orig); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	return "https://" + protectHost + "/s/" + tok + "?domain=" + url.QueryEscape(host)
}

// RewriteURL registers original and returns the rewritten link decode-url
// turns back into it, as URL Protect does.
func (s *Server) RewriteURL(original string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rewrite(original)
}

// ClickLogs returns a copy of the click logs, oldest first.
func (s *Server) ClickLogs() []ClickLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ClickLog(nil), s.clicks...)
}

// AddClickLogs adds click logs, keeping them sorted by Date. Use RewriteURL to
// make a URL decode-url knows.
func (s *Server) AddClickLogs(logs ...ClickLog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clicks = append(s.clicks, logs...)
	sort.SliceStable(s.clicks, func(i, j int) bool { return s.clicks[i].Date.Before(s.clicks[j].Date) })
}

// ManagedURLs returns a copy of the managed URLs, oldest first.
func (s *Server) ManagedURLs() []ManagedURL {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ManagedURL(nil), s.managed...)
}

type logsRequest struct {
	From        string `json:"from"`
	To          string `json:"to"`
	ScanResult  string `json:"scanResult"`
	Route       string `json:"route"`
	OldestFirst bool   `json:"oldestFirst"`
}

const pageTokenPrefix = "clicklogs:"

func (s *Server) handleGetLogs(w *bufWriter, req *apiRequest, _ *http.Request) {
	items, err := decodeItems[logsRequest](req)
	if err != nil {
		badRequest(w, err)
		return
	}
	var lr logsRequest
	if len(items) > 0 {
		lr = items[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock().UTC()
	from, to := now.Truncate(24*time.Hour), now
	if bad := lr.check(&from, &to); bad != nil {
		bad.fail(w)
		return
	}
	offset, bad := logsOffset(req.Meta.Pagination.PageToken)
	if bad != nil {
		bad.fail(w)
		return
	}
	size := req.Meta.Pagination.PageSize
	if size == 0 {
		size = defaultLogsPageSize
	}
	size = min(size, MaxLogsPageSize)
	writeLogsPage(w, s.matchClicks(lr, from, to), offset, size)
}

// check parses from and to into *from and *to when they are set, defaults scanResult
// and route to "all" and checks their values. It returns the failure to answer, or nil.
func (lr *logsRequest) check(from, to *time.Time) *apiError {
	if bad := parseTimeField("from", lr.From, from); bad != nil {
		return bad
	}
	if bad := parseTimeField("to", lr.To, to); bad != nil {
		return bad
	}
	if lr.ScanResult == "" {
		lr.ScanResult = "all"
	}
	if lr.Route == "" {
		lr.Route = "all"
	}
	if lr.ScanResult != "all" && lr.ScanResult != "clean" && lr.ScanResult != "malicious" {
		return &apiError{Code: "err_validation_invalid_value", Message: fmt.Sprintf("scanResult %q must be one of clean, malicious, all", lr.ScanResult)}
	}
	switch lr.Route {
	case "all", "inbound", "outbound", "internal":
	default:
		return &apiError{Code: "err_validation_invalid_value", Message: fmt.Sprintf("route %q must be one of inbound, outbound, internal, all", lr.Route)}
	}
	return nil
}

// logsOffset decodes a click-log page token ("" is the first page) into the offset
// of its first log. It returns the failure to answer, or nil.
func logsOffset(tok string) (int, *apiError) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	n, ok := strings.CutPrefix(string(raw), pageTokenPrefix)
	off, aerr := strconv.Atoi(n)
	if err != nil || !ok || aerr != nil || off < 0 {
		return 0, &apiError{Code: "err_validation_invalid_page_token", Message: fmt.Sprintf("pageToken %q is invalid", tok)}
	}
	return off, nil
}

// logsToken is the page token of the click log at offset.
func logsToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.Itoa(offset)))
}

// matchClicks returns the click logs between from and to that pass the filters of
// lr, newest first unless lr asks oldest first (s.mu held).
func (s *Server) matchClicks(lr logsRequest, from, to time.Time) []clickWire {
	var match []clickWire
	for _, c := range s.clicks {
		if c.Date.Before(from) || c.Date.After(to) ||
			(lr.ScanResult != "all" && c.ScanResult != lr.ScanResult) ||
			(lr.Route != "all" && c.Route != lr.Route) {
			continue
		}
		match = append(match, clickWire{ClickLog: c, Date: c.Date.UTC().Format(LogTimeLayout)})
	}
	if !lr.OldestFirst {
		slices.Reverse(match)
	}
	return match
}

// writeLogsPage answers the size logs of match from offset, with the tokens of the
// pages around it.
func writeLogsPage(w *bufWriter, match []clickWire, offset, size int) {
	total := len(match)
	lo := min(offset, total)
	hi := min(lo+size, total)
	page := match[lo:hi]
	if page == nil {
		page = []clickWire{}
	}
	p := &pagination{PageSize: len(page), TotalCount: &total}
	if hi < total {
		p.Next = logsToken(hi)
	}
	if lo > 0 {
		p.Previous = logsToken(max(lo-size, 0))
	}
	writeEnvelope(w, http.StatusOK, []any{map[string]any{"clickLogs": page}}, p, nil)
}

type urlItem struct {
	URL string `json:"url"`
}

func (s *Server) handleDecodeURL(w *bufWriter, req *apiRequest, _ *http.Request) {
	items, err := decodeItems[urlItem](req)
	if err != nil {
		badRequest(w, err)
		return
	}
	if len(items) > MaxDecodeURLs {
		validationFail(w, "err_validation_too_many_items", fmt.Sprintf("data holds %d URLs; at most %d per request", len(items), MaxDecodeURLs))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type decoded struct {
		URL     string `json:"url"`
		Success bool   `json:"success"`
	}
	data := []decoded{}
	fails := []failItem{}
	for _, it := range items {
		if strings.TrimSpace(it.URL) == "" {
			fails = append(fails, failItem{Key: it, Errors: []apiError{{Code: "err_validation_blank_url", Message: "url is required"}}})
			continue
		}
		u, err := url.Parse(it.URL)
		if err != nil || !strings.EqualFold(u.Hostname(), protectHost) && !(strings.HasPrefix(strings.ToLower(u.Hostname()), "protect-") && strings.HasSuffix(strings.ToLower(u.Hostname()), ".mimecast.com")) {
			// Not a rewritten link: echoed as a fail item without errors.
			fails = append(fails, failItem{Key: it, Errors: []apiError{}})
			continue
		}
		tok, ok := strings.CutPrefix(u.Path, "/s/")
		orig, known := s.rewrites[tok]
		if !ok || !known {
			fails = append(fails, failItem{Key: it, Errors: []apiError{{Code: "err_ttp_url_decode_invalid_token", Message: "Token is invalid"}}})
			continue
		}
		data = append(data, decoded{URL: orig, Success: true})
	}
	writeEnvelope(w, http.StatusOK, data, nil, fails)
}

type managedItem struct {
	URL                  string `json:"url"`
	Action               string `json:"action"`
	MatchType            string `json:"matchType,omitempty"`
	Comment              string `json:"comment,omitempty"`
	DisableRewrite       bool   `json:"disableRewrite"`
	DisableUserAwareness bool   `json:"disableUserAwareness"`
	DisableLogClick      bool   `json:"disableLogClick"`
}

// managedKey is the uniqueness key of a managed URL: the normalised URL and
// its match type.
func managedKey(raw, matchType string) string { return normURL(raw) + "|" + matchType }

// normURL lower-cases scheme and host and drops a trailing slash, for matching.
func normURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(raw)), "/")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u.String()
}

func (s *Server) handleCreateManagedURL(w *bufWriter, req *apiRequest, _ *http.Request) {
	items, err := decodeItems[managedItem](req)
	if err != nil {
		badRequest(w, err)
		return
	}
	if len(items) == 0 {
		validationFail(w, "err_validation_missing_data", "data must hold at least one managed URL")
		return
	}
	if len(items) > MaxCreateManagedURLs {
		validationFail(w, "err_validation_too_many_items", fmt.Sprintf("data holds %d URLs; at most %d per request", len(items), MaxCreateManagedURLs))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := []ManagedURL{}
	fails := []failItem{}
	for _, it := range items {
		fail := func(code, msg string) {
			fails = append(fails, failItem{Key: it, Errors: []apiError{{Code: code, Message: msg}}})
		}
		mt := it.MatchType
		if mt == "" {
			mt = "explicit"
		}
		u, err := url.Parse(it.URL)
		switch {
		case err != nil || u.Host == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) ||
			strings.Contains(it.URL, "#") || strings.ContainsAny(it.URL, " \t\r\n"):
			fail("err_managed_url_invalid", fmt.Sprintf("The URL is invalid: %q (want http or https with a host and no #fragment)", it.URL))
			continue
		case it.Action != "block" && it.Action != "permit":
			fail("err_validation_invalid_action", fmt.Sprintf("action %q must be one of block, permit", it.Action))
			continue
		case mt != "explicit" && mt != "domain":
			fail("err_validation_invalid_match_type", fmt.Sprintf("matchType %q must be one of explicit, domain", mt))
			continue
		}
		key := managedKey(it.URL, mt)
		dup := false
		for _, m := range s.managed {
			if managedKey(m.URL, m.MatchType) == key {
				dup = true
				break
			}
		}
		if dup {
			fail("err_managed_url_exists_code", "The managed URL already exists; to update it, delete and recreate")
			continue
		}
		port := -1
		if p := u.Port(); p != "" {
			port, _ = strconv.Atoi(p)
		}
		path := u.Path
		if path == "" {
			path = "/"
		}
		m := ManagedURL{
			ID: s.opaque("wOi3MCwjYFYhZfkYlp2RMAhvN30QSmqOT7D-"), Scheme: strings.ToLower(u.Scheme), Domain: strings.ToLower(u.Hostname()),
			Port: port, Path: path, QueryString: u.RawQuery, MatchType: mt, Action: it.Action, Comment: it.Comment,
			DisableUserAwareness: it.DisableUserAwareness, DisableRewrite: it.DisableRewrite, DisableLogClick: it.DisableLogClick,
			URL: it.URL,
		}
		s.managed = append(s.managed, m)
		data = append(data, m)
	}
	writeEnvelope(w, http.StatusOK, data, nil, fails)
}

type managedQuery struct {
	DomainOrURL string `json:"domainOrUrl"`
	ExactMatch  bool   `json:"exactMatch"`
}

func (s *Server) handleGetAllManagedURLs(w *bufWriter, req *apiRequest, _ *http.Request) {
	items, err := decodeItems[managedQuery](req)
	if err != nil {
		badRequest(w, err)
		return
	}
	var q managedQuery
	if len(items) > 0 {
		q = items[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := []ManagedURL{}
	want := strings.ToLower(strings.TrimSpace(q.DomainOrURL))
	for _, m := range s.managed {
		switch {
		case want == "":
		case q.ExactMatch:
			if normURL(m.URL) != normURL(q.DomainOrURL) && m.Domain != want {
				continue
			}
		default:
			if !strings.Contains(strings.ToLower(m.URL), want) {
				continue
			}
		}
		data = append(data, m)
	}
	total := len(data)
	writeEnvelope(w, http.StatusOK, data, &pagination{PageSize: total, TotalCount: &total}, nil)
}

type idItem struct {
	ID string `json:"id"`
}

func (s *Server) handleDeleteManagedURL(w *bufWriter, req *apiRequest, _ *http.Request) {
	items, err := decodeItems[idItem](req)
	if err != nil {
		badRequest(w, err)
		return
	}
	if len(items) == 0 {
		validationFail(w, "err_validation_missing_data", "data must hold the id of the managed URL to delete")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fails := []failItem{}
	for _, it := range items {
		i := -1
		for j, m := range s.managed {
			if m.ID == it.ID {
				i = j
				break
			}
		}
		if i < 0 || it.ID == "" {
			fails = append(fails, failItem{Errors: []apiError{{Code: "err_managed_url_not_found", Message: "Managed URL not found"}}})
			continue
		}
		s.managed = append(s.managed[:i], s.managed[i+1:]...)
	}
	writeEnvelope(w, http.StatusOK, nil, nil, fails)
}
