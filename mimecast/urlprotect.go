package mimecast

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Limits of the URL Protect endpoints.
const (
	MaxDecode        = 25  // URLs per decode-url request
	MaxCreateManaged = 20  // URLs per create-managed-url request
	logsPageSize     = 100 // click logs per get-logs page
)

// ClickLog is one URL Protect click log entry (the fields the client uses).
type ClickLog struct {
	URL        string `json:"url"`
	ScanResult string `json:"scanResult"`
	Date       string `json:"date"`
	Category   string `json:"category"`
}

// LogsRequest asks for one page of click logs.
type LogsRequest struct {
	From, To  time.Time // sent as UTC RFC 3339
	PageToken string    // empty for the first page
	PageSize  int       // default 100
}

// LogsPage is one page of click logs.
type LogsPage struct {
	Logs []ClickLog
	Next string // empty on the last page
}

type logsBody struct {
	From        string `json:"from,omitempty"`
	To          string `json:"to,omitempty"`
	ScanResult  string `json:"scanResult"`
	Route       string `json:"route"`
	OldestFirst bool   `json:"oldestFirst"`
}

// GetMaliciousClicks reads one page of click logs with scanResult malicious, oldest
// first.
func (c *Client) GetMaliciousClicks(ctx context.Context, lr LogsRequest) (LogsPage, error) {
	size := lr.PageSize
	if size <= 0 {
		size = logsPageSize
	}
	in := request{
		Meta: &requestMeta{Pagination: requestPagination{PageSize: size, PageToken: lr.PageToken}},
		Data: []any{logsBody{From: timeFormat(lr.From), To: timeFormat(lr.To), ScanResult: "malicious", Route: "all", OldestFirst: true}},
	}
	var data []struct {
		ClickLogs []ClickLog `json:"clickLogs"`
	}
	env, err := c.callStrict(ctx, pathGetLogs, in, &data)
	if err != nil {
		return LogsPage{}, err
	}
	var out LogsPage
	for _, d := range data {
		out.Logs = append(out.Logs, d.ClickLogs...)
	}
	if env.Meta.Pagination != nil {
		out.Next = env.Meta.Pagination.Next
	}
	return out, nil
}

// Decoded is the answer of decode-url for one URL.
type Decoded struct {
	Input   string // the URL sent
	URL     string // the original link; empty when Err is set
	Code    string // Mimecast's error code when decoding failed
	Message string
}

// DecodeURLs turns Mimecast-rewritten links back into the original ones, in
// requests of at most MaxDecode URLs. A link that is not rewritten comes back as
// itself; one Mimecast cannot decode has Code and Message set.
func (c *Client) DecodeURLs(ctx context.Context, urls []string) ([]Decoded, error) {
	out := make([]Decoded, 0, len(urls))
	for start := 0; start < len(urls); start += MaxDecode {
		chunk := urls[start:min(start+MaxDecode, len(urls))]
		items := make([]any, len(chunk))
		for i, u := range chunk {
			items[i] = map[string]string{"url": u}
		}
		env, reqID, err := c.call(ctx, pathDecodeURL, request{Data: items})
		if err != nil {
			return out, err
		}
		var data []struct {
			URL     string `json:"url"`
			Success bool   `json:"success"`
		}
		if len(env.Data) > 0 && string(env.Data) != "null" {
			if err := json.Unmarshal(env.Data, &data); err != nil {
				return out, fmt.Errorf("mimecast %s: %w: data does not decode: %v", pathDecodeURL, ErrProtocol, err)
			}
		}
		// Successes carry no key: they are matched to inputs in order, skipping
		// inputs that appear in fail.
		failed := map[string]Decoded{}
		for _, f := range env.Fail {
			var key struct {
				URL string `json:"url"`
			}
			if len(f.Key) == 0 || json.Unmarshal(f.Key, &key) != nil {
				// A failure of the whole request.
				if e := envelopeError(pathDecodeURL, http.StatusOK, env, reqID); e != nil {
					c.explain(e)
					return out, e
				}
				continue
			}
			d := Decoded{Input: key.URL}
			if len(f.Errors) == 0 && f.Code == "" {
				d.URL = key.URL // not a rewritten link: use it as it is
			} else {
				fe := f.first()
				d.Code, d.Message = fe.Code, fe.Message
			}
			failed[key.URL] = d
		}
		di := 0
		for _, u := range chunk {
			if d, ok := failed[u]; ok {
				out = append(out, d)
				continue
			}
			d := Decoded{Input: u}
			if di < len(data) && data[di].URL != "" {
				d.URL = data[di].URL
			} else {
				d.Code, d.Message = "missing", "decode-url gave no answer for this URL"
			}
			di++
			out = append(out, d)
		}
	}
	return out, nil
}

// ManagedURL is one entry of the managed URL list.
type ManagedURL struct {
	ID        string `json:"id,omitempty"`
	URL       string `json:"url,omitempty"`
	Action    string `json:"action"`              // block or permit
	MatchType string `json:"matchType,omitempty"` // explicit or domain
	Comment   string `json:"comment,omitempty"`
	Domain    string `json:"domain,omitempty"`
	Path      string `json:"path,omitempty"`
}

// ItemFailure is one item a URL endpoint did not take.
type ItemFailure struct {
	Key       string // the url (or id) as sent; empty for a whole-request failure
	Code      string
	Message   string
	Retryable bool
}

// CreateManagedURLs adds up to MaxCreateManaged managed URLs. It returns how many
// were created and the per-item failures.
func (c *Client) CreateManagedURLs(ctx context.Context, items []ManagedURL) (int, []ItemFailure, error) {
	if len(items) > MaxCreateManaged {
		return 0, nil, fmt.Errorf("mimecast create-managed-url: %d URLs, at most %d per request", len(items), MaxCreateManaged)
	}
	data := make([]any, len(items))
	for i, it := range items {
		data[i] = it
	}
	env, _, err := c.call(ctx, pathCreateManaged, request{Data: data})
	if err != nil {
		return 0, nil, err
	}
	var created []json.RawMessage
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &created); err != nil {
			return 0, nil, fmt.Errorf("mimecast %s: %w: data does not decode: %v", pathCreateManaged, ErrProtocol, err)
		}
	}
	return len(created), itemFailures(env, "url"), nil
}

func itemFailures(env *envelope, keyField string) []ItemFailure {
	var out []ItemFailure
	for _, f := range env.Fail {
		fe := f.first()
		it := ItemFailure{Code: fe.Code, Message: fe.Message, Retryable: fe.Retryable}
		var key map[string]any
		if len(f.Key) > 0 && json.Unmarshal(f.Key, &key) == nil {
			it.Key, _ = key[keyField].(string)
		}
		out = append(out, it)
	}
	return out
}

// FindManagedURLs lists the managed URLs matching domainOrURL exactly.
func (c *Client) FindManagedURLs(ctx context.Context, domainOrURL string) ([]ManagedURL, error) {
	var out []ManagedURL
	_, err := c.callStrict(ctx, pathGetAllManaged, request{Data: []any{map[string]any{"domainOrUrl": domainOrURL, "exactMatch": true}}}, &out)
	return out, err
}

// DeleteManagedURLs deletes managed URLs by id in one request. It returns the
// failures; an id that is not found has Code "err_managed_url_not_found".
func (c *Client) DeleteManagedURLs(ctx context.Context, ids []string) ([]ItemFailure, error) {
	data := make([]any, len(ids))
	for i, id := range ids {
		data[i] = map[string]string{"id": id}
	}
	env, _, err := c.call(ctx, pathDeleteManaged, request{Data: data})
	if err != nil {
		return nil, err
	}
	return itemFailures(env, "id"), nil
}
