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

// SetLedgerCacheMin sets how many ledger entries a ranked read loads into
// memory at most (below 65,536: exactly that many), and returns a function
// that sets it back.
func SetLedgerCacheMin(n int) func() {
	old := ledgerCacheMin
	ledgerCacheMin = n
	return func() { ledgerCacheMin = old }
}
