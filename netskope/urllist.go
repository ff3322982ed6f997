package netskope

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/ctexchange/cte/ioc"
	"strconv"
	"strings"
)

// URL list types.
const (
	URLListExact = "exact"
	URLListRegex = "regex"
)

// ModifiedByAPI is the modify_by of a URL list the REST API changed last.
const ModifiedByAPI = "Netskope REST API"

// URLListPlaceholder is the entry a URL list keeps when every other entry was
// retracted: the tenant refuses an empty list. It is the Cloud Exchange default URL.
const URLListPlaceholder = "cedefaultpush.io"

// URLList is a URL list (Policies > Web > URL Lists).
type URLList struct {
	ID         int64       `json:"id"`
	Name       string      `json:"name"`
	Data       URLListData `json:"data"`
	Pending    int         `json:"pending"`     // 1 while changes wait for a deploy
	ModifyBy   string      `json:"modify_by"`   // who made the last change
	ModifyTime string      `json:"modify_time"` // when, as the tenant writes it
	ModifyType string      `json:"modify_type"` // Created, Edited or Deleted
}

// URLListData is the content of a URL list.
type URLListData struct {
	URLs        []string `json:"urls"`
	Type        string   `json:"type"` // URLListExact or URLListRegex
	JSONVersion int      `json:"json_version,omitempty"`
}

// InvalidValue is a value the tenant refused in a URL list, with its reason.
type InvalidValue struct {
	Value  string
	Reason string
}

// URLLists lists the tenant's URL lists, applied and pending, with their content
// (GET /api/v2/policy/urllist). Lists whose deletion is staged are left out.
func (c *Client) URLLists(ctx context.Context) ([]URLList, error) {
	k := call{op: "list URL lists", method: "GET", path: "/api/v2/policy/urllist",
		query: map[string][]string{"field": {"id,name,data,pending,modify_by,modify_type"}}}
	a, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var lists []URLList
	if err := json.Unmarshal(a.body, &lists); err != nil {
		return nil, c.scrub(&Error{Op: k.op, API: "v2", Status: a.status, Err: ErrBadAnswer,
			Message: "want a JSON array of URL lists: " + snippet(a.body), Hint: "check tenant_url names a Netskope tenant"})
	}
	out := lists[:0]
	for _, l := range lists {
		if !strings.EqualFold(l.ModifyType, "Deleted") {
			out = append(out, l)
		}
	}
	return out, nil
}

// URLListByName returns the URL list called name (exact match), or an *Error wrapping
// ErrNotFound.
func (c *Client) URLListByName(ctx context.Context, name string) (*URLList, error) {
	lists, err := c.URLLists(ctx)
	if err != nil {
		return nil, err
	}
	var found *URLList
	for i := range lists {
		if lists[i].Name == name && (found == nil || lists[i].ID < found.ID) {
			found = &lists[i]
		}
	}
	if found == nil {
		return nil, &Error{Op: fmt.Sprintf("find URL list %q", ioc.Truncate(name, 80)), API: "v2", Err: ErrNotFound,
			Hint: "create the list in Policies > Web > URL Lists, or pick one GetTargets lists"}
	}
	return found, nil
}

// AppendURLs adds urls to list id (PATCH /api/v2/policy/urllist/{id}/append). typ
// must be the list's type. The change is staged until DeployURLLists. A 400 naming
// refused values is an *Error wrapping ErrRejected whose Invalid lists them.
func (c *Client) AppendURLs(ctx context.Context, id int64, typ string, urls []string) (*URLList, error) {
	return c.patchURLs(ctx, id, "append", typ, urls)
}

// ReplaceURLs sets the content of list id to urls (PATCH .../{id}/replace); staged
// until DeployURLLists. The tenant refuses an empty list.
func (c *Client) ReplaceURLs(ctx context.Context, id int64, typ string, urls []string) (*URLList, error) {
	return c.patchURLs(ctx, id, "replace", typ, urls)
}

func (c *Client) patchURLs(ctx context.Context, id int64, action, typ string, urls []string) (*URLList, error) {
	body, err := json.Marshal(map[string]any{"data": URLListData{URLs: urls, Type: typ}})
	if err != nil {
		return nil, fmt.Errorf("netskope: %s URL list %d: %w", action, id, err)
	}
	k := call{op: fmt.Sprintf("%s %d values to URL list %d", action, len(urls), id), method: "PATCH",
		path: "/api/v2/policy/urllist/" + strconv.FormatInt(id, 10) + "/" + action, body: body}
	a, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var l URLList
	if err := json.Unmarshal(a.body, &l); err != nil {
		// The change is staged; an unreadable echo is not a failure of the change.
		c.log.Warn("netskope: unreadable URL list answer", "op", k.op, "error", err.Error())
		return &URLList{ID: id}, nil
	}
	return &l, nil
}

// DeployURLLists applies every staged URL-list change on the tenant, including other
// administrators' (POST /api/v2/policy/urllist/deploy).
func (c *Client) DeployURLLists(ctx context.Context) error {
	_, err := c.do(ctx, call{op: "deploy URL lists", method: "POST", path: "/api/v2/policy/urllist/deploy"})
	return err
}

// invalidValues reads {"statusCode":400,"message":[["value","reason"],...]}.
func invalidValues(body []byte) []InvalidValue {
	var env struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Message) == 0 || env.Message[0] != '[' {
		return nil
	}
	var pairs []json.RawMessage
	if json.Unmarshal(env.Message, &pairs) != nil {
		return nil
	}
	var out []InvalidValue
	for _, p := range pairs {
		var tuple []string
		if json.Unmarshal(p, &tuple) != nil || len(tuple) == 0 {
			continue
		}
		iv := InvalidValue{Value: tuple[0], Reason: "refused by the tenant"}
		if len(tuple) > 1 && strings.TrimSpace(tuple[1]) != "" {
			iv.Reason = tuple[1]
		}
		out = append(out, iv)
	}
	return out
}
