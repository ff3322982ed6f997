package mimecast

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// File types of get-feed.
const (
	FileCSV  = "csv"
	FileSTIX = "stix"
)

type stixObject struct {
	Type             string `json:"type"`
	ID               string `json:"id"`
	Created          string `json:"created"`
	Name             string `json:"name"`
	Pattern          string `json:"pattern"`
	ValidFrom        string `json:"valid_from"`
	RelationshipType string `json:"relationship_type"`
	SourceRef        string `json:"source_ref"`
	TargetRef        string `json:"target_ref"`
}

type stixBundle struct {
	Type    string       `json:"type"`
	Objects []stixObject `json:"objects"`
}

// parseSTIX parses a get-feed STIX 2.0 bundle: every indicator whose pattern
// compares file hashes (MD5, SHA-256) gives indicators of the wanted types, with
// the name of the malware it indicates as comment and valid_from (else created) as
// firstSeen and lastSeen.
func (p *feedParser) parseSTIX(body []byte) (feedResult, error) {
	var res feedResult
	var b stixBundle
	if err := json.Unmarshal(body, &b); err != nil {
		return res, fmt.Errorf("%w: STIX bundle does not decode: %v", ErrProtocol, err)
	}
	if b.Type != "bundle" {
		return res, fmt.Errorf("%w: STIX answer has type %q, want bundle", ErrProtocol, b.Type)
	}
	names := map[string]string{}
	for _, o := range b.Objects {
		if o.Type == "malware" && o.Name != "" {
			names[o.ID] = o.Name
		}
	}
	indicates := map[string]string{}
	for _, o := range b.Objects {
		if o.Type == "relationship" && o.RelationshipType == "indicates" {
			if n, ok := names[o.TargetRef]; ok {
				indicates[o.SourceRef] = n
			}
		}
	}
	for _, o := range b.Objects {
		if o.Type != "indicator" {
			continue
		}
		res.rows++
		var ts time.Time
		for _, s := range []string{o.ValidFrom, o.Created} {
			if t, ok := parseTimestamp([]byte(s)); ok {
				ts = t
				break
			}
		}
		if ts.After(res.newest) {
			res.newest = ts
		}
		comment := ""
		if n := indicates[o.ID]; n != "" {
			comment = "Malware: " + n
		}
		hashes := patternHashes(o.Pattern)
		if len(hashes) == 0 {
			res.invalid.add("stix: pattern compares no file hash", o.Pattern)
			continue
		}
		for _, h := range hashes {
			switch {
			case h.t == ioc.TypeMD5 && p.md5, h.t == ioc.TypeSHA256 && p.sha256:
				res.indicators = p.add(res.indicators, &res.invalid, h.t, []byte(h.v), comment, ts)
			}
		}
	}
	return res, nil
}

type typedHash struct {
	t ioc.Type
	v string
}

// patternHashes finds the comparisons file:hashes.<algo> = '<value>' in a STIX
// pattern (read by ioc.PatternComparisons). Algorithms other than MD5 and SHA-256
// are ignored.
func patternHashes(pattern string) []typedHash {
	var out []typedHash
	for _, c := range ioc.PatternComparisons(pattern) {
		switch strings.ToUpper(hashPathCleaner.Replace(c.Path)) {
		case "FILE:HASHES.MD5":
			out = append(out, typedHash{ioc.TypeMD5, c.Value})
		case "FILE:HASHES.SHA256":
			out = append(out, typedHash{ioc.TypeSHA256, c.Value})
		}
	}
	return out
}

var hashPathCleaner = strings.NewReplacer("'", "", `"`, "", "-", "")

// streamSTIX parses a STIX bundle read from r (held whole: its relationships
// refer across it; GetFeed bounds a JSON answer at 64 MiB) and hands the result
// to emit as the last chunk.
func (p *feedParser) streamSTIX(r io.Reader, emit func(res *feedResult, last bool) error) error {
	body, err := io.ReadAll(io.LimitReader(r, maxJSONBody+1))
	if err != nil {
		return fmt.Errorf("read STIX bundle: %w", err)
	}
	if len(body) > maxJSONBody {
		return fmt.Errorf("%w: STIX bundle of more than %d bytes", ErrProtocol, maxJSONBody)
	}
	res, err := p.parseSTIX(body)
	if err != nil {
		return err
	}
	return emit(&res, true)
}
