// Package app holds the deadletters service's use cases: store a received
// dead letter, list and show letters, replay one to its queue, purge one.
// It sees letters, never an AMQP delivery or an HTTP request.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/staybook/staybook/services/deadletters/internal/domain"
)

// Repository is the storage the use cases need (postgres.Repository).
type Repository interface {
	// Save stores a received letter once, and unless it was a duplicate
	// delivery, calls announce in the same transaction with the letter as
	// stored and the transaction's Events (the outbox): an announcement is
	// never written without its letter, nor a letter without it.
	Save(ctx context.Context, l domain.Letter, announce Announce) (domain.Outcome, error)
	Get(ctx context.Context, id string) (domain.Letter, error)
	History(ctx context.Context, id string) ([]domain.Failure, []domain.Replay, error)
	List(ctx context.Context, f domain.ListFilter) ([]domain.Letter, error)
	UpdateLetter(ctx context.Context, id string, fn func(ctx context.Context, l *domain.Letter) error) (domain.Letter, error)
}

// Announce publishes the events that announce a letter just stored, on events.
type Announce func(ctx context.Context, stored domain.Letter, events Events) error

// Events publishes contracts as events (TaskFailed): a cqrs.EventBus, over
// the outbox of the transaction that stores the letter.
type Events interface {
	Publish(ctx context.Context, event any) error
}

// Republisher sends a letter's original message back to its queue, and
// returns once the broker confirmed it (broker.Republisher).
type Republisher interface {
	Republish(ctx context.Context, l domain.Letter) error
}

// ErrRepublish: the broker did not take the replayed message (unreachable,
// no confirm in time). Nothing changed; the replay may be tried again.
var ErrRepublish = errors.New("republish failed")

// Config configures the use cases.
type Config struct {
	// ReplayTimeout bounds one replay, the broker's confirm included.
	ReplayTimeout time.Duration
	Now           func() time.Time
}

// Letters implements the use cases.
type Letters struct {
	repo Repository
	pub  Republisher
	cfg  Config
}

// New returns the use cases.
func New(repo Repository, pub Republisher, cfg Config) *Letters {
	if repo == nil || pub == nil {
		panic("app: New needs a Repository and a Republisher")
	}
	if cfg.ReplayTimeout == 0 {
		cfg.ReplayTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Letters{repo: repo, pub: pub, cfg: cfg}
}

// Received is a message taken off dead_letters.
type Received struct {
	UUID     string
	Payload  []byte
	Metadata map[string]string
}

// Store stores a received dead letter once (see postgres.Repository.Save),
// with what metadata it has, and announces a booking task's failure
// (TaskFailed) with it; a failure is always worth retrying.
func (s *Letters) Store(ctx context.Context, r Received) (domain.Letter, domain.Outcome, error) {
	l := domain.Received(r.UUID, r.Payload, r.Metadata, s.cfg.Now())
	outcome, err := s.repo.Save(ctx, l, announceTaskFailed)
	return l, outcome, err
}

// announceTaskFailed announces the stored letter's latest failure when a
// booking's task failed (domain.Letter.TaskFailed).
func announceTaskFailed(ctx context.Context, stored domain.Letter, events Events) error {
	ev, ok := stored.TaskFailed()
	if !ok {
		return nil
	}
	if err := events.Publish(ctx, ev); err != nil {
		return fmt.Errorf("announce TaskFailed of %s: %w", stored.ID, err)
	}
	return nil
}

// List returns the letters f selects, newest failure first.
func (s *Letters) List(ctx context.Context, f domain.ListFilter) ([]domain.Letter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return s.repo.List(ctx, f)
}

// Detail is a letter with its failure rounds and replays.
type Detail struct {
	domain.Letter
	History []domain.Failure
	Replays []domain.Replay
}

// Show returns the letter with id and its history. A purged letter is
// domain.ErrPurged (with the letter, whose PurgedAt says when).
func (s *Letters) Show(ctx context.Context, id string) (Detail, error) {
	l, err := s.repo.Get(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	if l.Status == domain.StatusPurged {
		return Detail{Letter: l}, domain.ErrPurged
	}
	history, replays, err := s.repo.History(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	return Detail{Letter: l, History: history, Replays: replays}, nil
}

// Replay republishes the letter's original message to its queue and marks
// it replayed, under the letter's lock: the message is republished (and
// confirmed) before the change commits, so a letter is never marked
// replayed without its message on the queue; and if the message fails again
// at once, its new dead letter waits for the lock and finds it replayed,
// and turns it dead again. (Should the commit fail after the confirm, the
// message is on its way and the letter still says dead: replaying it again
// is safe, consumers being idempotent.)
func (s *Letters) Replay(ctx context.Context, id string) (domain.Letter, error) {
	// Once started, a replay runs to its end even if the caller goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ReplayTimeout)
	defer cancel()
	return s.repo.UpdateLetter(ctx, id, func(ctx context.Context, l *domain.Letter) error {
		if err := l.Replay(s.cfg.Now().UTC()); err != nil {
			return err
		}
		if err := s.pub.Republish(ctx, *l); err != nil {
			if errors.Is(err, domain.ErrQueueMissing) {
				return err
			}
			return fmt.Errorf("%w: %w", ErrRepublish, err)
		}
		return nil
	})
}

// Purge marks the letter purged: gone from every listing, its record (and
// payload) kept for audit.
func (s *Letters) Purge(ctx context.Context, id string) (domain.Letter, error) {
	return s.repo.UpdateLetter(ctx, id, func(_ context.Context, l *domain.Letter) error {
		return l.Purge(s.cfg.Now().UTC())
	})
}
