package mimecast

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Operations of create-batch.
const (
	OpBlock  = "BLOCK"
	OpAllow  = "ALLOW"
	OpDelete = "DELETE"
)

// MaxBatch is the most hashes one create-batch request takes.
const MaxBatch = 1000

// Account is what get-account says about the account.
type Account struct {
	AccountCode string   `json:"accountCode"`
	AccountName string   `json:"accountName"`
	Region      string   `json:"region"`
	Packages    []string `json:"packages"`
}

// HasBYO reports whether the account has the Bring-Your-Own Threat Intelligence
// package that create-batch needs.
func (a Account) HasBYO() bool { return slices.Contains(a.Packages, byoPackage) }

// GetAccount reads the account. It is the credential check: a refused key is an
// *Error wrapping cte.ErrAuth; an HTTP 200 answer whose meta.status is not 200, or
// with no account, is an error too.
func (c *Client) GetAccount(ctx context.Context) (Account, error) {
	var accts []Account
	if _, err := c.callStrict(ctx, pathGetAccount, request{Data: []any{}}, &accts); err != nil {
		return Account{}, err
	}
	if len(accts) == 0 {
		return Account{}, fmt.Errorf("mimecast %s: %w: the answer holds no account", pathGetAccount, ErrProtocol)
	}
	return accts[0], nil
}

// Hash is one entry of a create-batch hash list.
type Hash struct {
	Hash        string `json:"hash"`
	Provider    string `json:"provider,omitempty"`
	Description string `json:"description,omitempty"`
}

// HashFailure is a hash create-batch did not take.
type HashFailure struct {
	Hash      string // the hash as sent; empty for a failure of the whole batch
	Code      string
	Message   string
	Retryable bool
}

// BatchResult is the answer of one create-batch request.
type BatchResult struct {
	HashCount    int           // hashes Mimecast reports applied
	BatchIDToken string        // Mimecast's id of the batch
	Failures     []HashFailure // per-hash failures, or one whole-batch failure (Hash "")
	RequestID    string
}

// Quota reports whether one of the failures says the batch quota is spent.
func (r BatchResult) Quota() bool {
	for _, f := range r.Failures {
		if strings.Contains(f.Message, quotaText) {
			return true
		}
	}
	return false
}

type batchBody struct {
	OperationType string `json:"operationType"`
	HashList      []Hash `json:"hashList"`
}

// CreateBatch applies op (OpBlock, OpAllow or OpDelete) to up to MaxBatch hashes.
// Failures Mimecast lists with HTTP 200 are in the result, not the error; the error
// is for answers that are not a usable envelope (HTTP errors, bad JSON).
//
// Like every call, a create-batch that meets a connection error, 429 or 5xx is
// retried: each operation sets the hash's state (the last BLOCK, ALLOW or DELETE
// wins), so sending a batch twice leaves the same state as sending it once.
func (c *Client) CreateBatch(ctx context.Context, op string, hashes []Hash) (BatchResult, error) {
	if len(hashes) > MaxBatch {
		return BatchResult{}, fmt.Errorf("mimecast create-batch: %d hashes, at most %d per request", len(hashes), MaxBatch)
	}
	env, reqID, err := c.call(ctx, pathCreateBatch, request{Data: []any{batchBody{OperationType: op, HashList: hashes}}})
	if err != nil {
		return BatchResult{}, err
	}
	res := BatchResult{RequestID: reqID}
	var data []struct {
		BatchIDToken string `json:"batchIdToken"`
		HashCount    int    `json:"hashCount"`
	}
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &data); err != nil {
			return res, fmt.Errorf("mimecast %s: %w: data does not decode: %v", pathCreateBatch, ErrProtocol, err)
		}
	}
	for _, d := range data {
		res.HashCount += d.HashCount
		if res.BatchIDToken == "" {
			res.BatchIDToken = d.BatchIDToken
		}
	}
	for _, f := range env.Fail {
		fe := f.first()
		hf := HashFailure{Code: fe.Code, Message: fe.Message, Retryable: fe.Retryable}
		var key struct {
			Hash string `json:"hash"`
		}
		if len(f.Key) > 0 && json.Unmarshal(f.Key, &key) == nil {
			hf.Hash = key.Hash
		}
		res.Failures = append(res.Failures, hf)
	}
	if len(env.Fail) == 0 && env.Meta.Status != 0 && env.Meta.Status != http.StatusOK {
		res.Failures = append(res.Failures, HashFailure{Code: fmt.Sprint(env.Meta.Status), Message: fmt.Sprintf("meta.status %d with no fail entry", env.Meta.Status)})
	}
	return res, nil
}
