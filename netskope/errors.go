package netskope

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// Sentinel errors of this package, wrapped by *Error next to the cte sentinels
// (cte.ErrAuth for refused tokens or missing scopes, cte.ErrRateLimited for 429s the
// retries could not outwait).
var (
	// ErrPendingChanges reports that the tenant refused a change because the object
	// has changes that are staged but not applied. Apply or discard them in the
	// tenant, then try again; retrying at once does not help.
	ErrPendingChanges = errors.New("pending changes")
	// ErrNotFound reports a list, index or endpoint the tenant does not have.
	ErrNotFound = errors.New("not found")
	// ErrRejected reports a request the tenant refused as invalid: a v1 answer with
	// status "error", a 400 or a 422.
	ErrRejected = errors.New("request rejected")
	// ErrUnavailable reports a server error or maintenance (5xx) that outlasted the
	// retries; trying again later can succeed.
	ErrUnavailable = errors.New("tenant unavailable")
	// ErrBadAnswer reports an answer that is not what the API documents, such as a
	// page that is not JSON or an iterator answer with ok != 1.
	ErrBadAnswer = errors.New("unexpected answer")
)

// Error is an error answer of the Netskope API. It wraps one of the sentinels above
// or cte.ErrAuth / cte.ErrRateLimited, so callers pick a recovery with errors.Is.
// It never holds a token.
type Error struct {
	Op        string // what the client was doing, e.g. "update file hash list"
	API       string // "v1" or "v2"
	Status    int    // HTTP status; 200 for v1 answers with status "error"
	Code      string // the v1 errorCode, if any
	Message   string // what the tenant said, shortened
	RequestID string // the x-request-id header, if any
	Retryable bool   // true when the same request can succeed later
	Hint      string // what to do about it
	Err       error  // the sentinel
	// Invalid lists the values a URL-list change was refused for (HTTP 400).
	Invalid []InvalidValue
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("netskope: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %q)", e.Code)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Duplicate is the v1 answer for a File Hash List update that changes nothing.
const Duplicate = "Duplicate request, no change in file hashes"

const maxMessage = 400

// v1Envelope is the v1 answer: {"status":"success",...} or
// {"status":"error","errorCode":"...","errors":[...]}.
type v1Envelope struct {
	Status    string          `json:"status"`
	ErrorCode string          `json:"errorCode"`
	Errors    json.RawMessage `json:"errors"`
	Msg       json.RawMessage `json:"msg"`
	Message   json.RawMessage `json:"message"`
}

// V1Result is the outcome of a v1 call whose answer was HTTP 200.
type V1Result int

// V1 outcomes.
const (
	V1Success   V1Result = iota + 1 // status "success"
	V1Duplicate                     // status "error" with Duplicate: nothing changed
)

// classifyV1 reads a v1 answer that came with HTTP 200. A status other than
// "success" is an *Error, except the duplicate answer, which is V1Duplicate.
func classifyV1(op string, body []byte) (V1Result, *Error) {
	var env v1Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return 0, &Error{Op: op, API: "v1", Status: http.StatusOK, Err: ErrBadAnswer,
			Message: "the answer is not a JSON object: " + snippet(body),
			Hint:    "check tenant_url names a Netskope tenant"}
	}
	msg := joinMessages(env.Errors, env.Message, env.Msg)
	switch strings.ToLower(strings.TrimSpace(env.Status)) {
	case "success":
		return V1Success, nil
	case "error":
		if strings.Contains(strings.ToLower(msg), "duplicate request") {
			return V1Duplicate, nil
		}
		e := &Error{Op: op, API: "v1", Status: http.StatusOK, Code: env.ErrorCode, Message: msg, Err: ErrRejected}
		lm, lc := strings.ToLower(msg), strings.ToLower(env.ErrorCode)
		switch {
		case strings.Contains(lc, "auth") || strings.Contains(lm, "invalid token") || strings.Contains(lm, "unauthori"):
			e.Err, e.Hint = cte.ErrAuth, hintV1Auth
		case strings.Contains(lm, "pending"):
			e.Err, e.Retryable, e.Hint = ErrPendingChanges, true, hintPendingFile
		case strings.Contains(lm, "not exist") || strings.Contains(lm, "not found") || strings.Contains(lm, "no such") || strings.Contains(lm, "invalid name"):
			e.Err, e.Hint = ErrNotFound, hintFileList
		}
		return 0, e
	}
	return 0, &Error{Op: op, API: "v1", Status: http.StatusOK, Err: ErrBadAnswer,
		Message: fmt.Sprintf("status %q, want \"success\" or \"error\": %s", ioc.Truncate(env.Status, 80), snippet(body))}
}

const (
	hintV1Auth      = "check v1_token: the REST API v1 token (Settings > Tools > REST API v1) was refused; it is wrong or was regenerated"
	hintV2Auth      = "check v2_token: the REST API v2 token was refused; it is wrong, expired or revoked"
	hintPendingFile = "the File Hash List has a pending change: apply or discard it in the tenant, then sync again"
	hintPendingURL  = "the URL lists have changes staged but not deployed: apply or discard them in Policies > Web > URL Lists, then sync again"
	hintFileList    = "check file_hash_lists: the name must match a File Profile hash list exactly, case included (Policies > Profiles > File)"
)

// classifyHTTP turns a non-2xx answer into an *Error. path is the request path,
// used to name the missing scope of a 403.
func classifyHTTP(op, path string, resp *http.Response, body []byte) *Error {
	api := "v2"
	if strings.HasPrefix(path, "/api/v1/") {
		api = "v1"
	}
	e := &Error{Op: op, API: api, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	e.Message, e.Code = errorBodyMessage(body)
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.Err = cte.ErrAuth
		switch {
		case api == "v1":
			e.Hint = hintV1Auth
		case s == http.StatusForbidden:
			e.Hint = "check v2_token's scopes: it lacks " + scopeOf(path)
		default:
			e.Hint = hintV2Auth
		}
	case s == http.StatusConflict && strings.HasPrefix(path, "/api/v2/events/dataexport/"):
		// The iterator's conflict: another reader holds the index, not a staged change.
		e.Err, e.Retryable = ErrRejected, true
		e.Hint = "the Data Export index is in use by another reader: give each configuration reading this tenant its own name; the next sync tries again"
	case s == http.StatusConflict && (api == "v2" || strings.Contains(strings.ToLower(e.Message), "pending")):
		e.Err, e.Retryable = ErrPendingChanges, true
		e.Hint = hintPendingURL
		if api == "v1" {
			e.Hint = hintPendingFile
		}
	case s == http.StatusConflict:
		e.Err = ErrRejected
	case s == http.StatusNotFound:
		e.Err = ErrNotFound
		e.Hint = "check tenant_url: it must be the tenant itself, e.g. https://acme.goskope.com"
		if strings.HasPrefix(path, "/api/v2/policy/urllist/") {
			e.Hint = "the URL list no longer exists: pick a target GetTargets lists"
		}
	case s == http.StatusTooManyRequests:
		e.Err, e.Retryable = cte.ErrRateLimited, true
		e.Hint = "the tenant's rate limit held for longer than the retries wait; the next sync continues"
	case s >= 500:
		e.Err, e.Retryable = ErrUnavailable, s != http.StatusNotImplemented
		e.Hint = "the tenant failed or is in maintenance; the next sync tries again"
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		e.Err = ErrRejected
		e.Invalid = invalidValues(body)
	case s == http.StatusRequestEntityTooLarge:
		e.Err = ErrRejected
		e.Hint = "the request is larger than the tenant takes (8 MB)"
	case s >= 300 && s < 400:
		e.Err = ErrBadAnswer
		e.Hint = "the tenant redirected the call: check tenant_url is the tenant's own host, e.g. https://acme.goskope.com"
	default:
		e.Err = ErrBadAnswer
	}
	return e
}

// scopeOf names the REST API v2 scope an endpoint needs.
func scopeOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/v2/events/dataexport/alerts/"):
		return "read access to " + path + " (Data Export alerts)"
	case strings.HasPrefix(path, "/api/v2/policy/urllist"):
		return "read+write access to /api/v2/policy/urllist (URL lists)"
	}
	return "access to " + path
}

// errorBodyMessage extracts the message of an error body: {"message": "..."},
// {"message": ["..."]}, {"statusCode":400,"message":[[value, reason],...]}, v1's
// {"errors": [...]} or {"error": "..."}, else the text itself.
func errorBodyMessage(body []byte) (msg, code string) {
	var obj struct {
		Message          json.RawMessage `json:"message"`
		Errors           json.RawMessage `json:"errors"`
		Error            json.RawMessage `json:"error"`
		ErrorCode        string          `json:"errorCode"`
		ValidationErrors json.RawMessage `json:"validation_errors"`
	}
	if json.Unmarshal(body, &obj) != nil {
		return snippet(body), ""
	}
	msg = joinMessages(obj.Message, obj.Errors, obj.Error, obj.ValidationErrors)
	return msg, obj.ErrorCode
}

// joinMessages flattens JSON strings, arrays of them and nested arrays into one
// "; "-separated line, shortened.
func joinMessages(raws ...json.RawMessage) string {
	var parts []string
	var walk func(v any, nested bool)
	walk = func(v any, nested bool) {
		switch x := v.(type) {
		case string:
			if x = strings.TrimSpace(x); x != "" {
				parts = append(parts, x)
			}
		case []any:
			// [[value, reason], ...]: a pair inside the outer array.
			if nested && len(x) == 2 {
				if a, ok := x[0].(string); ok {
					if b, ok := x[1].(string); ok {
						parts = append(parts, fmt.Sprintf("%q: %s", a, b))
						return
					}
				}
			}
			for _, e := range x {
				walk(e, true)
			}
		case map[string]any:
			for _, k := range []string{"field", "value", "message", "reason", "error"} {
				if s, ok := x[k].(string); ok && s != "" {
					parts = append(parts, k+" "+s)
				}
			}
		case float64, bool:
			parts = append(parts, fmt.Sprint(x))
		}
	}
	for _, r := range raws {
		if len(r) == 0 {
			continue
		}
		var v any
		if json.Unmarshal(r, &v) == nil {
			walk(v, false)
		}
	}
	return ioc.Truncate(strings.Join(parts, "; "), maxMessage)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(empty body)"
	}
	return fmt.Sprintf("%q", ioc.Truncate(s, maxMessage))
}
