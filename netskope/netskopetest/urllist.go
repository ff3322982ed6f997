package netskopetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Who staged a URL-list change.
const (
	ModifiedByAPI = "Netskope REST API"
	ModifiedByUI  = "admin@example.com"
)

// URLList is a test read-back of one URL list.
type URLList struct {
	ID   int
	Name string
	Type string // "exact" or "regex"
	// URLs is the current content, including staged (pending) changes.
	URLs []string
	// Deployed is the content the policies use: the last deployed one (nil before the
	// first deploy).
	Deployed []string
	// Pending reports staged changes that wait for a deploy.
	Pending bool
	// Deleted reports a staged deletion.
	Deleted bool
	// ModifyType is "Created", "Edited" or "Deleted"; ModifyBy who made the change.
	ModifyType, ModifyBy string
}

type urlList struct {
	id         int
	name       string
	typ        string
	urls       []string
	deployed   []string
	deployedOK bool
	pending    bool
	uiPending  bool
	deleted    bool
	modifyType string
	modifyBy   string
	modifyTime time.Time
}

func (l *urlList) snapshot() URLList {
	u := URLList{ID: l.id, Name: l.name, Type: l.typ, URLs: slices.Clone(l.urls), Pending: l.pending,
		Deleted: l.deleted, ModifyType: l.modifyType, ModifyBy: l.modifyBy}
	if l.deployedOK {
		u.Deployed = slices.Clone(l.deployed)
		if u.Deployed == nil {
			u.Deployed = []string{}
		}
	}
	return u
}

// urlListFields are the fields GET may select with field=.
var urlListFields = []string{"id", "name", "data", "pending", "modify_by", "modify_time", "modify_type"}

func (l *urlList) view(fields map[string]bool) map[string]any {
	pending := 0
	if l.pending {
		pending = 1
	}
	all := map[string]any{
		"id":          l.id,
		"name":        l.name,
		"data":        map[string]any{"urls": nonNil(l.urls), "type": l.typ, "json_version": 2},
		"pending":     pending,
		"modify_by":   l.modifyBy,
		"modify_time": l.modifyTime.UTC().Format(time.DateTime),
		"modify_type": l.modifyType,
	}
	if fields == nil {
		return all
	}
	out := map[string]any{}
	for k := range fields {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// URLLists returns every URL list (staged deletions included), by id.
func (s *Server) URLLists() []URLList {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]URLList, 0, len(s.urlLists))
	for _, l := range s.sortedURLLists() {
		out = append(out, l.snapshot())
	}
	return out
}

// URLList returns the list with id.
func (s *Server) URLList(id int) (URLList, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.urlLists[id]; l != nil {
		return l.snapshot(), true
	}
	return URLList{}, false
}

// URLListByName returns the list named name.
func (s *Server) URLListByName(name string) (URLList, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.sortedURLLists() {
		if l.name == name {
			return l.snapshot(), true
		}
	}
	return URLList{}, false
}

// Deploys returns how many successful URL-list deploy calls the tenant answered.
func (s *Server) Deploys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deploys
}

// EditURLListInUI stages a change made by an administrator in the tenant UI: the
// content becomes urls (unchanged if none are given) and stays pending until a deploy.
// Until then the API may not modify that list (409, MsgPendingProfile), as on a
// tenant. It reports whether the list exists.
func (s *Server) EditURLListInUI(id int, urls ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.urlLists[id]
	if l == nil {
		return false
	}
	if urls != nil {
		l.urls = slices.Clone(urls)
	}
	l.pending, l.uiPending = true, true
	l.modifyType, l.modifyBy, l.modifyTime = "Edited", ModifiedByUI, s.now()
	return true
}

func (s *Server) sortedURLLists() []*urlList {
	out := make([]*urlList, 0, len(s.urlLists))
	for _, l := range s.urlLists {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *urlList) int { return a.id - b.id })
	return out
}

// createURLList adds a list; s.mu must be held unless the server is not yet shared.
func (s *Server) createURLList(name, typ string, urls []string, now time.Time, deployed bool) *urlList {
	l := &urlList{id: s.nextID, name: name, typ: typ, urls: slices.Clone(urls),
		modifyType: "Created", modifyBy: ModifiedByAPI, modifyTime: now, pending: !deployed}
	if deployed {
		l.deployed, l.deployedOK = slices.Clone(urls), true
	}
	s.nextID++
	s.urlLists[l.id] = l
	return l
}

// urlListBody is the create / update / append / replace request body.
type urlListBody struct {
	Name *string `json:"name"`
	Data *struct {
		URLs []string `json:"urls"`
		Type string   `json:"type"`
	} `json:"data"`
}

// urlError is the {"statusCode": N, "message": "..."} error body.
func urlError(status int, msg string) reply {
	return jsonReply(status, map[string]any{"statusCode": status, "message": msg})
}

func (s *Server) handleURLList(r *http.Request) reply {
	hdr, refused := s.checkV2(r, PathURLList)
	if refused != nil {
		refused.header = hdr
		return *refused
	}
	rep := s.routeURLList(r)
	if rep.header == nil {
		rep.header = http.Header{}
	}
	for k, v := range hdr {
		rep.header[k] = v
	}
	return rep
}

func (s *Server) routeURLList(r *http.Request) reply {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, PathURLList), "/")
	parts := strings.Split(rest, "/")
	notAllowed := func() reply {
		return urlError(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
	}
	switch {
	case rest == "":
		switch r.Method {
		case http.MethodGet:
			return s.listURLLists(r)
		case http.MethodPost:
			return s.createURLListAPI(r)
		}
		return notAllowed()
	case rest == "deploy":
		if r.Method != http.MethodPost {
			return notAllowed()
		}
		return s.deployURLLists()
	case rest == "file":
		return urlError(http.StatusNotImplemented, "netskopetest does not implement the URL-list file upload")
	}
	id, err := strconv.Atoi(parts[0])
	if err != nil || len(parts) > 2 {
		return urlError(http.StatusNotFound, "no such endpoint "+r.URL.Path)
	}
	if len(parts) == 2 {
		if r.Method != http.MethodPatch {
			return notAllowed()
		}
		if parts[1] != "append" && parts[1] != "replace" {
			return urlError(http.StatusNotFound, fmt.Sprintf("unknown URL-list action %q: use append or replace", parts[1]))
		}
		return s.updateURLList(r, id, parts[1])
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		l := s.urlLists[id]
		if l == nil {
			return urlError(http.StatusNotFound, fmt.Sprintf("URL list %d not found", id))
		}
		return jsonReply(http.StatusOK, l.view(fieldSet(r)))
	case http.MethodPut:
		return s.updateURLList(r, id, "put")
	case http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		l, rep := s.editableURLList(id)
		if rep != nil {
			return *rep
		}
		l.deleted, l.pending = true, true
		l.modifyType, l.modifyBy, l.modifyTime = "Deleted", ModifiedByAPI, s.now()
		return jsonReply(http.StatusOK, l.view(nil))
	}
	return notAllowed()
}

// fieldSet reads field=a,b or repeated field= (also fields=); nil means all fields.
func fieldSet(r *http.Request) map[string]bool {
	q := r.URL.Query()
	vals := append(q["field"], q["fields"]...)
	if len(vals) == 0 {
		return nil
	}
	set := map[string]bool{}
	for _, v := range vals {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				set[f] = true
			}
		}
	}
	return set
}

func (s *Server) listURLLists(r *http.Request) reply {
	fields := fieldSet(r)
	onlyPending := r.URL.Query().Get("pending") == "1"
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, l := range s.sortedURLLists() {
		if onlyPending && !l.pending {
			continue
		}
		out = append(out, l.view(fields))
	}
	return jsonReply(http.StatusOK, out)
}

// readURLListBody reads and checks a body; needURLs requires a non-empty data.urls.
func readURLListBody(r *http.Request) (urlListBody, *reply) {
	var b urlListBody
	raw, err := readBody(r, MaxURLListBodyBytes)
	if err != nil {
		rep := urlError(http.StatusBadRequest, "could not read the request body")
		return b, &rep
	}
	if len(raw) > MaxURLListBodyBytes {
		rep := urlError(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes (8 MB)", MaxURLListBodyBytes))
		return b, &rep
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		rep := urlError(http.StatusBadRequest, "request body is not valid JSON: "+err.Error())
		return b, &rep
	}
	if b.Data == nil || len(b.Data.URLs) == 0 {
		rep := urlError(http.StatusBadRequest, "data.urls is required and must not be empty")
		return b, &rep
	}
	if b.Data.Type != "" && b.Data.Type != "exact" && b.Data.Type != "regex" {
		rep := urlError(http.StatusBadRequest, fmt.Sprintf("data.type %q is invalid: use exact or regex", b.Data.Type))
		return b, &rep
	}
	return b, nil
}

// rejectURLs answers 400 listing every invalid value with its reason.
func rejectURLs(typ string, urls []string) *reply {
	var msgs [][2]string
	for _, u := range urls {
		if reason := validateURLListEntry(typ, u); reason != "" {
			msgs = append(msgs, [2]string{u, reason})
		}
	}
	if msgs == nil {
		return nil
	}
	rep := jsonReply(http.StatusBadRequest, map[string]any{"statusCode": http.StatusBadRequest, "message": msgs})
	return &rep
}

func (s *Server) createURLListAPI(r *http.Request) reply {
	b, rep := readURLListBody(r)
	if rep != nil {
		return *rep
	}
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		return urlError(http.StatusBadRequest, "name is required")
	}
	typ := cmpOr(b.Data.Type, "exact")
	if rep := rejectURLs(typ, b.Data.URLs); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.urlLists {
		if l.name == *b.Name {
			return urlError(http.StatusBadRequest, fmt.Sprintf("a URL list named %q already exists (id %d)", l.name, l.id))
		}
	}
	l := s.createURLList(*b.Name, typ, dedupe(nil, b.Data.URLs), s.now(), false)
	return jsonReply(http.StatusOK, []map[string]any{l.view(nil)})
}

// editableURLList finds a list the API may change; s.mu must be held.
func (s *Server) editableURLList(id int) (*urlList, *reply) {
	l := s.urlLists[id]
	if l == nil {
		rep := urlError(http.StatusNotFound, fmt.Sprintf("URL list %d not found", id))
		return nil, &rep
	}
	if l.deleted {
		rep := urlError(http.StatusBadRequest, fmt.Sprintf("URL list %d is deleted (pending deploy)", id))
		return nil, &rep
	}
	if l.uiPending {
		rep := jsonReply(http.StatusConflict, map[string]any{"statusCode": http.StatusConflict, "message": MsgPendingProfile})
		return nil, &rep
	}
	return l, nil
}

// updateURLList handles PATCH append / replace and PUT.
func (s *Server) updateURLList(r *http.Request, id int, action string) reply {
	b, rep := readURLListBody(r)
	if rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, rep := s.editableURLList(id)
	if rep != nil {
		return *rep
	}
	typ := cmpOr(b.Data.Type, l.typ)
	if action == "append" && typ != l.typ {
		return urlError(http.StatusBadRequest, fmt.Sprintf("data.type %q does not match the list type %q", typ, l.typ))
	}
	if rep := rejectURLs(typ, b.Data.URLs); rep != nil {
		return *rep
	}
	if b.Name != nil && action == "put" {
		if *b.Name == "" {
			return urlError(http.StatusBadRequest, "name must not be empty")
		}
		l.name = *b.Name
	}
	if action == "append" {
		l.urls = dedupe(l.urls, b.Data.URLs)
	} else {
		l.urls = dedupe(nil, b.Data.URLs)
		l.typ = typ
	}
	l.pending = true
	l.modifyType, l.modifyBy, l.modifyTime = "Edited", ModifiedByAPI, s.now()
	return jsonReply(http.StatusOK, l.view(nil))
}

func (s *Server) deployURLLists() reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.urlLists {
		if !l.pending {
			continue
		}
		if l.deleted {
			delete(s.urlLists, id)
			continue
		}
		l.deployed, l.deployedOK = slices.Clone(l.urls), true
		l.pending, l.uiPending = false, false
	}
	s.deploys++
	out := []map[string]any{}
	for _, l := range s.sortedURLLists() {
		out = append(out, l.view(nil))
	}
	return jsonReply(http.StatusOK, out)
}

// dedupe appends the values of add not yet in base (or earlier in add) to a copy of base.
func dedupe(base, add []string) []string {
	out := slices.Clone(base)
	seen := make(map[string]bool, len(base)+len(add))
	for _, v := range base {
		seen[v] = true
	}
	for _, v := range add {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// validateURLListEntry returns why the tenant rejects value in a URL list of type typ
// ("exact" or "regex"), or "" when it accepts it. Exact entries follow Netskope's URL
// list rules: ASCII only (punycode host names), no spaces, the scheme is ignored, no
// user:pass@, at most one "*" and only as a leading "*.", ports 1-65535, IPv4
// addresses, CIDR blocks with zero host bits and ranges A.B.C.D-W.X.Y.Z; IPv6 is
// refused. Regex entries must compile without look-around.
func validateURLListEntry(typ, value string) string {
	if value == "" {
		return "empty value"
	}
	if len(value) > 4096 {
		return "longer than 4096 characters"
	}
	if typ == "regex" {
		if _, err := regexp.Compile(value); err != nil {
			return "invalid regular expression (PCRE without look-around): " + err.Error()
		}
		return ""
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c >= 0x80 {
			return "non-ASCII characters: use punycode (xn--) host names"
		}
		if c <= ' ' || c == 0x7f {
			return "contains spaces or control characters"
		}
	}
	rest := value
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme := rest[:i]
		if scheme == "" || strings.IndexFunc(scheme, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.')
		}) >= 0 {
			return "malformed scheme"
		}
		rest = rest[i+3:]
	}
	if p, err := netip.ParsePrefix(rest); err == nil {
		if p.Addr().Is6() {
			return "IPv6 is not supported"
		}
		if p != p.Masked() {
			return "CIDR host bits must be zero (" + p.Masked().String() + ")"
		}
		return ""
	}
	return validateURLHost(rest)
}

// validateURLHost is validateURLListEntry for an exact entry without its scheme
// that is not a CIDR block: host[:port][/path...], the host a name, an IPv4
// address or a range, optionally behind a leading "*.".
func validateURLHost(rest string) string {
	hostport := rest
	if i := strings.IndexAny(hostport, "/?#"); i >= 0 {
		hostport = hostport[:i]
	}
	if strings.Contains(hostport, "@") {
		return "credentials (user:pass@) are not allowed"
	}
	if strings.HasPrefix(hostport, "[") || strings.Count(hostport, ":") > 1 {
		return "IPv6 is not supported"
	}
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host = hostport[:i]
		if n, err := strconv.Atoi(hostport[i+1:]); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("invalid port %q: use 1-65535", hostport[i+1:])
		}
	}
	if host == "" {
		return "missing host"
	}
	if stars := strings.Count(rest, "*"); stars > 0 {
		if stars > 1 || !strings.HasPrefix(host, "*.") {
			return `wildcard "*" is allowed once, only as a leading "*."`
		}
		host = host[2:]
	}
	if a, b, ok := strings.Cut(host, "-"); ok {
		x, errA := netip.ParseAddr(a)
		y, errB := netip.ParseAddr(b)
		if errA == nil && errB == nil {
			if !x.Is4() || !y.Is4() {
				return "IPv6 is not supported"
			}
			if y.Less(x) {
				return "range start is after its end"
			}
			return ""
		}
	}
	if strings.Trim(host, "0123456789.") == "" {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
			return "invalid IPv4 address"
		}
		return ""
	}
	return validateHostName(host)
}

// validateHostName is validateURLListEntry for a host name without its wildcard:
// at most 253 characters, labels of 1-63 letters, digits, '-' and '_', not
// starting or ending with '-'.
func validateHostName(host string) string {
	if len(host) > 253 {
		return "host name longer than 253 characters"
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return "invalid host name: empty label or label longer than 63 characters"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "invalid host name: label starts or ends with '-'"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("invalid character %q in host name", c)
			}
		}
	}
	return ""
}
