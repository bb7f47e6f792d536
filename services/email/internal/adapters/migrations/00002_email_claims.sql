-- +goose Up
-- A send is claimed in a transaction of its own before the SMTP call
-- (status 'sending', by whom, when), and recorded as sent in another one
-- after it, so that losing the database connection after the SMTP server
-- accepted an email no longer rolls the claim back (which made the retry
-- send it again). claimed_at is the start of the claim's lease: another
-- worker may take a 'sending' row over only once the lease has expired
-- (its claimant crashed).
ALTER TABLE emails
    ADD COLUMN claimed_by text NOT NULL DEFAULT '',
    ADD COLUMN claimed_at timestamptz;
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check CHECK (status IN ('pending', 'sending', 'sent'));
ALTER TABLE emails ADD CONSTRAINT emails_sending_claimed_check CHECK (status <> 'sending' OR claimed_at IS NOT NULL);

-- +goose Down
UPDATE emails SET status = 'pending' WHERE status = 'sending';
ALTER TABLE emails DROP CONSTRAINT emails_sending_claimed_check;
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check CHECK (status IN ('pending', 'sent'));
ALTER TABLE emails DROP COLUMN claimed_at, DROP COLUMN claimed_by;
