package sharing

// RecordsChanged lets tests drop the cached listing.
func RecordsChanged(e *Engine) { e.recordsChanged() }

// SetRankBatch sets how many values a ranked read reads together, and
// returns a function that sets it back.
func SetRankBatch(n int) func() {
	old := rankBatchN
	rankBatchN = n
	return func() { rankBatchN = old }
}
