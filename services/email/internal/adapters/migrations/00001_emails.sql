-- +goose Up
-- The sent-email log: one row per booking, so a redelivered VoucherCreated
-- finds the email already sent and does not send it again.
CREATE TABLE emails (
    booking_id     text PRIMARY KEY,
    message_id     text NOT NULL,
    recipient      text NOT NULL,
    recipient_name text NOT NULL DEFAULT '',
    subject        text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('pending', 'sent')),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text NOT NULL DEFAULT '',
    sent_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

-- +goose Down
DROP TABLE emails;
