package contracts

// Metadata a dead letter carries besides the original message's: the
// router sets it when it gives up on a message (shared/messaging), the
// deadletters service reads it and carries some of it into a replay.
const (
	DLQueueKey         = "dl_queue"           // the queue the message failed on
	DLHandlerKey       = "dl_handler"         // the handler that failed
	DLReasonKey        = "dl_reason"          // the last error
	DLAttemptsKey      = "dl_attempts"        // attempts so far, replays included
	DLFirstFailedAtKey = "dl_first_failed_at" // RFC 3339 with nanoseconds
	DLLastFailedAtKey  = "dl_last_failed_at"  // RFC 3339 with nanoseconds
	DLPermanentKey     = "dl_permanent"       // "true" if the error was permanent
)
