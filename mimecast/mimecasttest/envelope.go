package mimecasttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// apiError is one entry of fail[].errors.
type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// failItem is one entry of fail[]; Key echoes the request item of a per-item failure.
type failItem struct {
	Key    any        `json:"key,omitempty"`
	Errors []apiError `json:"errors"`
}

type pagination struct {
	PageSize   int    `json:"pageSize"`
	TotalCount *int   `json:"totalCount,omitempty"`
	Next       string `json:"next,omitempty"`
	Previous   string `json:"previous,omitempty"`
}

type meta struct {
	Status     int         `json:"status"`
	Pagination *pagination `json:"pagination,omitempty"`
}

type envelope struct {
	Meta meta       `json:"meta"`
	Data any        `json:"data"`
	Fail []failItem `json:"fail"`
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w *bufWriter, status int, v any) {
	w.header.Set("Content-Type", "application/json")
	w.status = status
	enc := json.NewEncoder(&w.body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every value the fake encodes is plain data; this is a bug in the fake.
		panic(fmt.Sprintf("mimecasttest: encoding a response: %v", err))
	}
}

// writeEnvelope writes the standard envelope. data must be a slice (nil becomes []).
func writeEnvelope(w *bufWriter, status int, data any, p *pagination, fails []failItem) {
	if data == nil {
		data = []any{}
	}
	if fails == nil {
		fails = []failItem{}
	}
	writeJSON(w, status, envelope{Meta: meta{Status: status, Pagination: p}, Data: data, Fail: fails})
}

// writeFail writes a whole-request failure (no key) with meta.status = status.
func writeFail(w *bufWriter, status int, data any, errs ...apiError) {
	writeEnvelope(w, status, data, nil, []failItem{{Errors: errs}})
}

// apiRequest is the decoded body of an API request: {"meta":{...},"data":[...]}.
type apiRequest struct {
	Meta struct {
		Pagination struct {
			PageSize  int    `json:"pageSize"`
			PageToken string `json:"pageToken"`
		} `json:"pagination"`
	} `json:"meta"`
	Data []json.RawMessage `json:"data"`
}

// decodeRequest decodes an API request body. It fails on an empty body, on
// anything but one JSON object, on a data that is not an array of objects, and
// on a meta.pagination of the wrong types.
func decodeRequest(body []byte) (*apiRequest, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New(`empty request body; send {"data":[]} at least`)
	}
	if body[0] != '{' {
		return nil, errors.New("request body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var req apiRequest
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("request body is not valid: %w", err)
	}
	if dec.More() {
		return nil, errors.New("request body has data after the JSON object")
	}
	for i, item := range req.Data {
		item = bytes.TrimSpace(item)
		if len(item) == 0 || item[0] != '{' {
			return nil, fmt.Errorf("data[%d] is not a JSON object", i)
		}
	}
	if req.Meta.Pagination.PageSize < 0 {
		return nil, fmt.Errorf("meta.pagination.pageSize %d is negative", req.Meta.Pagination.PageSize)
	}
	return &req, nil
}

// decodeItems decodes every data item into T.
func decodeItems[T any](req *apiRequest) ([]T, error) {
	out := make([]T, 0, len(req.Data))
	for i, raw := range req.Data {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("data[%d]: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// badRequest answers 400 err_request_invalid.
func badRequest(w *bufWriter, err error) {
	writeFail(w, http.StatusBadRequest, nil, apiError{Code: "err_request_invalid", Message: err.Error()})
}

// validationFail answers HTTP 200 with a whole-request fail, as Mimecast does for
// business-level errors.
func validationFail(w *bufWriter, code, message string) {
	writeFail(w, http.StatusOK, nil, apiError{Code: code, Message: message})
}
