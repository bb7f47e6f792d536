-- +goose Up
-- Wake the outbox forwarder when events are committed (shared/outbox,
-- outbox.Channel), instead of having it poll the table: every statement that
-- inserts into the outbox notifies "watermill_outbox". PostgreSQL delivers
-- the notification when the writer's transaction commits, never for a
-- rollback, and folds a transaction's notifications into one. The writers
-- need no change.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION watermill_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('watermill_outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP TRIGGER IF EXISTS watermill_outbox_notify ON "watermill_outbox";
CREATE TRIGGER watermill_outbox_notify AFTER INSERT ON "watermill_outbox"
    FOR EACH STATEMENT EXECUTE FUNCTION watermill_outbox_notify();

-- +goose Down
-- The forwarder then finds events only by its fallback poll
-- (OUTBOX_POLL_INTERVAL): lower it first.
DROP TRIGGER IF EXISTS watermill_outbox_notify ON "watermill_outbox";
DROP FUNCTION IF EXISTS watermill_outbox_notify();
