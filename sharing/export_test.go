package sharing

// RecordsChanged lets tests drop the cached listing.
func RecordsChanged(e *Engine) { e.recordsChanged() }

// SetRankBatch sets how many values a ranked read reads together, and
// returns a function that sets it back.
func SetRankBatch(n int) func() {
	oldN, oldMax := rankBatchN, rankBatchMax
	rankBatchN, rankBatchMax = n, n
	return func() { rankBatchN, rankBatchMax = oldN, oldMax }
}
