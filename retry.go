package cte

import "time"

// Retry tunes how a plugin that talks HTTP retries transient failures
// (connection errors, 429, 5xx). Zero fields keep the defaults: 4 retries,
// 500ms–30s backoff, a product-requested wait of at most 5 minutes, 30
// seconds without an answer per attempt, and no retry started after 2
// minutes. mimecast.Retry and netskope.Retry are this type.
type Retry struct {
	Max              int           // retries after the first attempt; negative for none
	WaitMin, WaitMax time.Duration // backoff bounds when the product asks for no wait
	MaxWait          time.Duration // longest product-requested wait accepted
	AttemptTimeout   time.Duration // longest an attempt may go without an answer
	MaxRetryTime     time.Duration // how long after the first attempt a retry may start
}
