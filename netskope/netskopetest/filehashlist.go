package netskopetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ctexchange/cte/ioc"
)

// Answers of updateFileHashList, from the Netskope documentation and reference plugins.
const (
	// MsgFileHashListUpdated is the success message.
	MsgFileHashListUpdated = "File Filter Profile updated successfully"
	// MsgDuplicateRequest is the error text when the new list equals the current one.
	MsgDuplicateRequest = "Duplicate request, no change in file hashes"
	// MsgPendingProfile is the conflict text when a list has un-applied changes.
	MsgPendingProfile = "non-interactive operation on pending profile is not allowed"
)

type hashTypes uint8

const (
	hashMD5 hashTypes = 1 << iota
	hashSHA256
)

type hashList struct {
	entries []string
	types   hashTypes
	pending bool
	updates int
}

// v1Error builds the v1 envelope {"status":"error","errorCode":...,"errors":[...]}.
func v1Error(status int, code string, errs ...string) reply {
	m := map[string]any{"status": "error", "errors": errs}
	if code != "" {
		m["errorCode"] = code
	}
	return jsonReply(status, m)
}

// FileHashList returns the current entries of the named list, in the order they were
// sent (nil if there is no such list). The real tenant has no read-back; this is for
// tests.
func (s *Server) FileHashList(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hashLists[name]; h != nil {
		return slices.Clone(h.entries)
	}
	return nil
}

// FileHashListNames returns the names of the file hash lists, sorted.
func (s *Server) FileHashListNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.hashLists))
	for n := range s.hashLists {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// FileHashListUpdates returns how many updates replaced the named list's content.
func (s *Server) FileHashListUpdates(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hashLists[name]; h != nil {
		return h.updates
	}
	return 0
}

// SetFileHashListPending marks the named list as having un-applied changes made in the
// tenant UI (true) or clears the mark. While marked, updateFileHashList answers 409 with
// MsgPendingProfile. It reports whether the list exists.
func (s *Server) SetFileHashListPending(name string, pending bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hashLists[name]
	if h == nil {
		return false
	}
	h.pending = pending
	return true
}

type v1Params struct {
	token, name, list string
	hasList           bool
}

// readV1Params reads token, name and list from the query string and the body (JSON,
// form or multipart form); a body value wins over a query value.
func readV1Params(r *http.Request) (v1Params, *reply) {
	var p v1Params
	q := r.URL.Query()
	p.token, p.name = q.Get("token"), q.Get("name")
	if q.Has("list") {
		p.list, p.hasList = q.Get("list"), true
	}
	body, err := readBody(r, maxV1Body)
	if err != nil {
		rep := v1Error(http.StatusBadRequest, "General Error", "could not read request body")
		return p, &rep
	}
	if len(body) > maxV1Body {
		rep := v1Error(http.StatusRequestEntityTooLarge, "General Error",
			fmt.Sprintf("request body exceeds %d bytes", maxV1Body))
		return p, &rep
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	set := func(k, v string) {
		switch k {
		case "token":
			p.token = v
		case "name":
			p.name = v
		case "list":
			p.list, p.hasList = v, true
		}
	}
	switch {
	case ct == "application/json" || (ct == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))):
		var m struct {
			Token *string `json:"token"`
			Name  *string `json:"name"`
			List  *string `json:"list"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			msg := "request body is not a JSON object: " + err.Error()
			if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
				msg = te.Field + " must be a string"
			}
			rep := v1Error(http.StatusOK, "General Error", msg)
			return p, &rep
		}
		for k, v := range map[string]*string{"token": m.Token, "name": m.Name, "list": m.List} {
			if v != nil {
				set(k, *v)
			}
		}
	case ct == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			rep := v1Error(http.StatusOK, "General Error", "malformed form body")
			return p, &rep
		}
		for _, k := range []string{"token", "name", "list"} {
			if form.Has(k) {
				set(k, form.Get(k))
			}
		}
	case ct == "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseMultipartForm(maxV1Body); err != nil || params["boundary"] == "" {
			rep := v1Error(http.StatusOK, "General Error", "malformed multipart body")
			return p, &rep
		}
		for _, k := range []string{"token", "name", "list"} {
			if vs, ok := r.MultipartForm.Value[k]; ok && len(vs) > 0 {
				set(k, vs[0])
			}
		}
	default:
		rep := v1Error(http.StatusOK, "General Error", "unsupported Content-Type "+strconv.Quote(ct)+": send JSON or a form")
		return p, &rep
	}
	return p, nil
}

func (s *Server) v1Preamble(r *http.Request) (v1Params, *reply) {
	if ok, wait := s.allowV1(); !ok {
		rep := v1Error(http.StatusTooManyRequests, "Too Many Requests", "API rate limit exceeded")
		rep.header = http.Header{"Retry-After": {strconv.Itoa(wait)}}
		return v1Params{}, &rep
	}
	p, rep := readV1Params(r)
	if rep != nil {
		return p, rep
	}
	if !s.v1TokenOK(p.token) {
		r := v1Error(http.StatusForbidden, "Authorization Error", "Invalid token")
		return p, &r
	}
	return p, nil
}

func (s *Server) handleAppInstances(r *http.Request) reply {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return v1Error(http.StatusMethodNotAllowed, "General Error", "method "+r.Method+" not allowed")
	}
	if _, rep := s.v1Preamble(r); rep != nil {
		return *rep
	}
	return jsonReply(http.StatusOK, map[string]any{"status": "success", "data": []any{}})
}

func (s *Server) handleUpdateFileHashList(r *http.Request) reply {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return v1Error(http.StatusMethodNotAllowed, "General Error", "method "+r.Method+" not allowed: use GET, POST, PUT or PATCH")
	}
	p, rep := s.v1Preamble(r)
	if rep != nil {
		return *rep
	}
	var missing []string
	if p.name == "" {
		missing = append(missing, "name not passed")
	}
	if !p.hasList || p.list == "" {
		missing = append(missing, "list not passed")
	}
	if missing != nil {
		return v1Error(http.StatusOK, "General Error", missing...)
	}
	if len(p.list) > MaxFileHashListBytes {
		return v1Error(http.StatusOK, "General Error",
			fmt.Sprintf("list is %d bytes: the maximum size of the list is 8MB (%d bytes)", len(p.list), MaxFileHashListBytes))
	}
	entries := strings.Split(p.list, ",")

	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hashLists[p.name]
	if h == nil {
		return v1Error(http.StatusOK, "General Error", fmt.Sprintf("File hash list %q does not exist", p.name))
	}
	if h.pending {
		return v1Error(http.StatusConflict, "General Error", MsgPendingProfile)
	}
	if bad := badHashes(entries, h.types); len(bad) > 0 {
		return v1Error(http.StatusOK, "General Error", bad...)
	}
	if sameSet(entries, h.entries) {
		return v1Error(http.StatusOK, "", MsgDuplicateRequest)
	}
	h.entries = entries
	h.updates++
	return jsonReply(http.StatusOK, map[string]any{"status": "success", "msg": MsgFileHashListUpdated})
}

const maxReportedBad = 20

// badHashes describes the entries that are not hashes of a type the list takes.
func badHashes(entries []string, types hashTypes) []string {
	var bad []string
	n := 0
	for _, e := range entries {
		ok := isHex(e) && ((len(e) == 32 && types&hashMD5 != 0) || (len(e) == 64 && types&hashSHA256 != 0))
		if ok {
			continue
		}
		n++
		if len(bad) < maxReportedBad {
			v := ioc.Truncate(e, 80)
			bad = append(bad, fmt.Sprintf("Invalid hash %q: want %s", v, types))
		}
	}
	if n > len(bad) {
		bad = append(bad, fmt.Sprintf("and %d more invalid hashes", n-len(bad)))
	}
	return bad
}

func (t hashTypes) String() string {
	switch t {
	case hashMD5:
		return "32 hex digits (MD5)"
	case hashSHA256:
		return "64 hex digits (SHA256)"
	}
	return "32 (MD5) or 64 (SHA256) hex digits"
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// sameSet compares two lists as case-insensitive sets.
func sameSet(a, b []string) bool {
	norm := func(l []string) []string {
		out := make([]string, len(l))
		for i, v := range l {
			out[i] = strings.ToLower(v)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// readBody reads at most limit+1 bytes of r's body into one buffer sized from
// Content-Length.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	size := int64(512)
	if r.ContentLength > 0 {
		size = min(r.ContentLength, limit) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	return buf.Bytes(), err
}
