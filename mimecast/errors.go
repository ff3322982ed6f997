package mimecast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ctexchange/cte"

	"github.com/ctexchange/cte/ioc"
)

// ErrClockSkew is wrapped by the *Error of a request Mimecast refused because this
// host's clock differs too much from Mimecast's (API 1.0 "Date Header Too Skewed").
// The error also matches cte.ErrAuth.
var ErrClockSkew = errors.New("clock skew")

// ErrProtocol is wrapped by errors about answers that do not have the documented shape.
var ErrProtocol = errors.New("unexpected answer")

// Error codes and texts Mimecast uses that the client acts on.
const (
	CodeTokenExpired   = "token_expired"
	CodeManagedExists  = "err_managed_url_exists_code"
	CodeBindingExpired = "err_xdk_binding_expired"
	skewText           = "Date Header Too Skewed"
	quotaText          = "Quota not available to create the batch"
	invalidURLText     = "The URL is invalid"
	byoPackage         = "BYO: Threat Intelligence [1089]"
)

// Error is an error answer of the Mimecast API: an HTTP error status, or HTTP 200
// with a non-empty fail list or a meta.status other than 200. It wraps
// cte.ErrAuth (401, 403, 418 binding expired), cte.ErrRateLimited (429),
// cte.ErrQuota (create-batch quota exhausted) or ErrClockSkew, as applicable.
type Error struct {
	Status    int    // HTTP status, or meta.status when HTTP said 200
	Code      string // Mimecast's error code, e.g. "err_xdk_invalid_signature"
	Message   string // Mimecast's message, or what to do
	RequestID string // x-mc-req-id of the request, when known
	Retryable bool   // Mimecast's retryable flag, or true for 429 and 5xx
	Op        string // the endpoint, e.g. "/api/account/get-account"

	sentinels []error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mimecast")
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	fmt.Fprintf(&b, ": HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the sentinels the error matches.
func (e *Error) Unwrap() []error { return e.sentinels }

// envelope is Mimecast's JSON answer.
type envelope struct {
	Meta struct {
		Status     int         `json:"status"`
		Pagination *pagination `json:"pagination"`
	} `json:"meta"`
	Data json.RawMessage `json:"data"`
	Fail []failItem      `json:"fail"`
}

type pagination struct {
	PageSize   int    `json:"pageSize"`
	TotalCount int    `json:"totalCount"`
	Next       string `json:"next"`
}

// failItem is one fail entry: API 1.0 {key, errors[]} or API 2.0 {code, message}.
type failItem struct {
	Key     json.RawMessage `json:"key"`
	Errors  []failError     `json:"errors"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

type failError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// first returns the first error of the item, whatever its shape.
func (f failItem) first() failError {
	if len(f.Errors) > 0 {
		return f.Errors[0]
	}
	return failError{Code: f.Code, Message: f.Message}
}

// decodeEnvelope decodes a JSON answer. A body that is not a JSON object is an
// ErrProtocol error; fail entries stay for the caller to judge.
func decodeEnvelope(body []byte) (*envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: want a JSON object, got %s", ErrProtocol, snippet(trimmed))
	}
	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, fmt.Errorf("%w: JSON answer does not decode (%v): %s", ErrProtocol, err, snippet(trimmed))
	}
	return &env, nil
}

// snippet shows at most 120 bytes of an answer, for error messages.
func snippet(b []byte) string {
	return fmt.Sprintf("%q", ioc.Truncate(string(b[:min(len(b), 121)]), 120))
}

// envelopeError turns a fail list or a bad meta.status into an *Error. It returns
// nil for a successful envelope.
func envelopeError(op string, httpStatus int, env *envelope, reqID string) *Error {
	if len(env.Fail) == 0 && (env.Meta.Status == 0 || env.Meta.Status == http.StatusOK) && httpStatus < 300 {
		return nil
	}
	status := httpStatus
	if status < 300 && env.Meta.Status != 0 {
		status = env.Meta.Status
	}
	e := &Error{Status: status, RequestID: reqID, Op: op}
	if len(env.Fail) > 0 {
		fe := env.Fail[0].first()
		e.Code, e.Message, e.Retryable = fe.Code, fe.Message, fe.Retryable
	}
	if e.Message == "" && e.Code == "" {
		if status != httpStatus {
			e.Message = fmt.Sprintf("meta.status %d with no fail entry", status)
		} else {
			e.Message = http.StatusText(status)
		}
	}
	classify(e)
	return e
}

// classify sets the sentinels and the retryable flag from status, code and message.
func classify(e *Error) {
	switch {
	case strings.Contains(e.Message, skewText):
		e.sentinels = []error{ErrClockSkew, cte.ErrAuth}
	case strings.Contains(e.Message, quotaText):
		e.sentinels = []error{cte.ErrQuota}
		e.Retryable = true
	case e.Status == http.StatusTooManyRequests:
		e.sentinels = []error{cte.ErrRateLimited}
		e.Retryable = true
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden, e.Status == 418,
		e.Code == CodeTokenExpired, e.Code == "unauthorized", e.Code == "token_verification_failed", e.Code == CodeBindingExpired:
		e.sentinels = []error{cte.ErrAuth}
	case e.Status >= 500:
		e.Retryable = true
	}
}

// httpError builds the *Error of a non-2xx answer from its (possibly non-JSON) body.
func httpError(op string, status int, body []byte, reqID string) *Error {
	if env, err := decodeEnvelope(body); err == nil {
		env.Meta.Status = status
		if e := envelopeError(op, status, env, reqID); e != nil {
			return e
		}
	}
	e := &Error{Status: status, RequestID: reqID, Op: op, Message: http.StatusText(status)}
	if t := strings.TrimSpace(string(body)); t != "" {
		e.Message = ioc.Truncate(t, 200)
	}
	classify(e)
	return e
}
