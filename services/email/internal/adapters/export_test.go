package adapters

// SetRecordFault makes the store's attempts to record a send's outcome fail
// while fault returns an error (attempt counts from 1 for each outcome).
func SetRecordFault(s *EmailStore, fault func(attempt int) error) { s.recordFault = fault }
