-- +goose Up

-- One row per dead-lettered message, keyed by the message UUID, so that an
-- operator reaches any letter directly and a replay that fails again comes
-- back to the same row. Purged letters stay, with status 'purged' and
-- purged_at, payload included: the purge record (they leave every listing).
CREATE TABLE dead_letters (
    id              text        PRIMARY KEY,
    status          text        NOT NULL CHECK (status IN ('dead', 'replayed', 'purged')),
    topic           text        NOT NULL DEFAULT '', -- the schema name (metadata "name")
    queue           text        NOT NULL DEFAULT '', -- dl_queue: where a replay goes
    handler         text        NOT NULL DEFAULT '', -- dl_handler
    reason          text        NOT NULL DEFAULT '', -- dl_reason of the latest failure
    attempts        int         NOT NULL DEFAULT 0,  -- dl_attempts, cumulative across replays
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    correlation_id  text        NOT NULL DEFAULT '', -- the booking ID
    payload         bytea       NOT NULL,
    metadata        jsonb       NOT NULL,            -- every metadata key of the message
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    replayed_at     timestamptz,                     -- the latest replay
    replay_count    int         NOT NULL DEFAULT 0,
    purged_at       timestamptz                      -- the latest purge
);

-- The listing: newest failure first, purged letters left out.
CREATE INDEX dead_letters_listing_idx ON dead_letters (last_failed_at DESC, id DESC) WHERE status <> 'purged';
CREATE INDEX dead_letters_handler_idx ON dead_letters (handler, last_failed_at DESC);
CREATE INDEX dead_letters_correlation_idx ON dead_letters (correlation_id);

-- One row per failure round. attempts is cumulative, so a round is
-- (letter, attempts): the same round delivered twice by RabbitMQ is stored once.
CREATE TABLE dead_letter_failures (
    letter_id   text        NOT NULL REFERENCES dead_letters (id),
    attempts    int         NOT NULL,
    reason      text        NOT NULL,
    failed_at   timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (letter_id, attempts)
);

-- One row per replay.
CREATE TABLE dead_letter_replays (
    letter_id   text        NOT NULL REFERENCES dead_letters (id),
    replayed_at timestamptz NOT NULL,
    attempts    int         NOT NULL, -- the letter's attempts when replayed
    queue       text        NOT NULL
);
CREATE INDEX dead_letter_replays_letter_idx ON dead_letter_replays (letter_id, replayed_at);

-- +goose Down
DROP TABLE dead_letter_replays;
DROP TABLE dead_letter_failures;
DROP TABLE dead_letters;
