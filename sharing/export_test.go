package sharing

// RecordsChanged lets tests drop the cached listing.
func RecordsChanged(e *Engine) { e.recordsChanged() }
