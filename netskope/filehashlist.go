package netskope

import (
	"context"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// UpdateFileHashList replaces the content of the File Hash List called name with
// hashes (normalised lower-case hex, as ioc.Parse returns them), in one REST API v1
// call: POST /api/v1/updateFileHashList with name, the comma-joined list and the v1
// token in the JSON body. The tenant answers a list identical to the current one
// with "Duplicate request", reported as V1Duplicate. An empty hashes sends
// ioc.Placeholder (32 "f" for MD5-only lists), so the profile is never empty.
// Errors are *Error values: ErrNotFound for a name the tenant does not know,
// ErrPendingChanges, cte.ErrAuth.
func (c *Client) UpdateFileHashList(ctx context.Context, name string, hashes []string) (V1Result, error) {
	op := fmt.Sprintf("update file hash list %q", ioc.Truncate(name, 80))
	if c.cfg.V1Token == "" {
		return 0, &cte.ConfigError{Field: "v1_token", Reason: "empty: updating File Hash Lists needs a REST API v1 token (Settings > Tools > REST API v1)"}
	}
	if name == "" {
		return 0, &cte.ConfigError{Field: "file_hash_lists", Reason: "an empty list name"}
	}
	for _, h := range hashes {
		if !ioc.IsNormal(ioc.TypeSHA256, h) && !ioc.IsNormal(ioc.TypeMD5, h) {
			return 0, fmt.Errorf("netskope: %s: %q is not a normalised hash: pass values through ioc.Parse first", op, ioc.Truncate(h, 80))
		}
	}
	if len(hashes) == 0 {
		hashes = []string{c.placeholder()}
	}
	body := hashListBody(name, hashes, c.cfg.V1Token)
	a, err := c.do(ctx, call{op: op, method: "POST", path: "/api/v1/updateFileHashList", body: body})
	clear(body) // the body holds the token
	if err != nil {
		return 0, err
	}
	res, e := classifyV1(op, a.body)
	if e != nil {
		return 0, c.scrub(e)
	}
	return res, nil
}

// placeholder is the value an empty File Hash List gets: ioc.Placeholder (64 "f"),
// or 32 "f" when the lists take MD5 only.
func (c *Client) placeholder() string {
	if slices.Contains(c.cfg.FileHashListTypes, ioc.TypeSHA256) {
		return ioc.Placeholder
	}
	return ioc.Placeholder[:32]
}

// hashListBody builds {"name":<name>,"list":"h1,h2,...","token":<token>} in one
// buffer of the exact size. hashes must be lower-case hex (no escaping needed).
func hashListBody(name string, hashes []string, token cte.Secret) []byte {
	const (
		pre  = `{"name":`
		mid  = `,"list":"`
		post = `","token":`
	)
	n := len(pre) + quotedLen(name) + len(mid) + joinedLen(hashes) + len(post) + quotedLen(token.Reveal()) + 1
	b := make([]byte, 0, n)
	b = append(b, pre...)
	b = appendQuoted(b, name)
	b = append(b, mid...)
	for i, h := range hashes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, h...)
	}
	b = append(b, post...)
	b = appendQuoted(b, token.Reveal())
	b = append(b, '}')
	return b
}

// joinedLen is the length of the comma-joined list, as the tenant counts its size.
func joinedLen(hashes []string) int {
	if len(hashes) == 0 {
		return 0
	}
	n := len(hashes) - 1
	for _, h := range hashes {
		n += len(h)
	}
	return n
}

const hexDigits = "0123456789abcdef"

// escape returns how a byte is written inside a JSON string: "" when as is.
func escape(c byte) string {
	switch c {
	case '"':
		return `\"`
	case '\\':
		return `\\`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if c < 0x20 || c == 0x7f {
		return `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&0xf])
	}
	return ""
}

// quotedLen is len(appendQuoted(nil, s)).
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		if s[i] >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				n += 6 // \ufffd
			} else {
				n += size
			}
			i += size
			continue
		}
		if e := escape(s[i]); e != "" {
			n += len(e)
		} else {
			n++
		}
		i++
	}
	return n
}

// appendQuoted appends s as a JSON string; invalid UTF-8 becomes \ufffd.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		if s[i] >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		if e := escape(s[i]); e != "" {
			b = append(b, e...)
		} else {
			b = append(b, s[i])
		}
		i++
	}
	return append(b, '"')
}
