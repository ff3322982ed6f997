package mimecasttest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Hash is the fake's state for one hash pushed with create-batch.
type Hash struct {
	Hash        string    // lower-case hex, as the key of Server.Hashes
	Operation   string    // ALLOW or BLOCK (a DELETE removes the entry)
	Provider    string    // hashList[].provider of the last operation
	Description string    // hashList[].description of the last operation
	Updated     time.Time // the fake's clock at the last operation
}

// hashItem is one hashList entry, echoed as the key of a per-hash failure.
type hashItem struct {
	Hash        string `json:"hash"`
	Provider    string `json:"provider"`
	Description string `json:"description"`
}

type batchRequest struct {
	OperationType string     `json:"operationType"`
	HashList      []hashItem `json:"hashList"`
}

type batchResult struct {
	BatchIDToken   string `json:"batchIdToken"`
	CompletionTime string `json:"completionTime"`
	HashCount      int    `json:"hashCount"`
	OperationType  string `json:"operationType"`
}

// Hashes returns the hashes currently allowed or blocked, by lower-case hash.
func (s *Server) Hashes() map[string]Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Hash, len(s.hashes))
	for k, v := range s.hashes {
		out[k] = v
	}
	return out
}

// validHash reports whether h is 32 or 64 hex digits (MD5 or SHA-256).
func validHash(h string) bool {
	if len(h) != 32 && len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (s *Server) handleCreateBatch(w *bufWriter, req *apiRequest, _ *http.Request) {
	items, err := decodeItems[batchRequest](req)
	if err != nil {
		badRequest(w, err)
		return
	}
	if len(items) == 0 {
		validationFail(w, "err_validation_missing_data", "data must hold a batch with operationType and hashList")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	data := []batchResult{}
	fails := []failItem{}
	for _, b := range items {
		switch {
		case b.OperationType != "ALLOW" && b.OperationType != "BLOCK" && b.OperationType != "DELETE":
			fails = append(fails, failItem{Errors: []apiError{{Code: "err_validation_invalid_operation_type",
				Message: fmt.Sprintf("operationType %q is not one of ALLOW, BLOCK, DELETE", b.OperationType)}}})
			continue
		case len(b.HashList) == 0:
			fails = append(fails, failItem{Errors: []apiError{{Code: "err_validation_empty_hash_list", Message: "hashList is empty"}}})
			continue
		case len(b.HashList) > MaxHashesPerBatch:
			fails = append(fails, failItem{Errors: []apiError{{Code: "err_validation_hash_list_too_large",
				Message: fmt.Sprintf("hashList holds %d hashes; at most %d per batch", len(b.HashList), MaxHashesPerBatch)}}})
			continue
		case s.batchQuota == 0:
			fails = append(fails, failItem{Errors: []apiError{{Code: "err_byo_quota_exceeded", Message: QuotaMessage}}})
			continue
		}
		if s.batchQuota > 0 {
			s.batchQuota--
		}
		count := 0
		for _, h := range b.HashList {
			var e apiError
			switch {
			case !validHash(h.Hash):
				e = apiError{Code: "err_invalid_hash", Message: fmt.Sprintf("Invalid hash value %q: want 32 (MD5) or 64 (SHA-256) hex digits", h.Hash)}
			case utf8.RuneCountInString(h.Provider) > MaxProviderLen:
				e = apiError{Code: "err_validation_provider_too_long", Message: fmt.Sprintf("provider %q is longer than %d characters", h.Provider, MaxProviderLen)}
			case utf8.RuneCountInString(h.Description) > MaxDescriptionLen:
				e = apiError{Code: "err_validation_description_too_long", Message: fmt.Sprintf("description %q is longer than %d characters", h.Description, MaxDescriptionLen)}
			}
			if e.Code != "" {
				fails = append(fails, failItem{Key: h, Errors: []apiError{e}})
				continue
			}
			key := strings.ToLower(h.Hash)
			if b.OperationType == "DELETE" {
				delete(s.hashes, key)
			} else {
				s.hashes[key] = Hash{Hash: key, Operation: b.OperationType, Provider: h.Provider, Description: h.Description, Updated: now}
			}
			count++
		}
		data = append(data, batchResult{
			BatchIDToken:   s.opaque("eNqrVipOTS4tSs1MUbJSKo"),
			CompletionTime: now.UTC().Format("2006-01-02T15:04:05.000Z") + "[UTC]",
			HashCount:      count,
			OperationType:  b.OperationType,
		})
	}
	writeEnvelope(w, http.StatusOK, data, nil, fails)
}
