-- +goose Up
-- The outbox (shared/outbox). Its columns are watermill-sql's PostgreSQL
-- queue schema, which earlier versions created at start-up with a 32-bit
-- SERIAL offset: the sequence keeps growing while rows are deleted, and at
-- 2^31 events every insert would fail. Create it with a 64-bit offset, or
-- widen the offset and its sequence where it exists (a table rewrite: the
-- outbox holds only the events not yet forwarded, so it is small).
CREATE TABLE IF NOT EXISTS "watermill_outbox" (
    "offset"     BIGSERIAL   PRIMARY KEY,
    "uuid"       VARCHAR(36) NOT NULL,
    "payload"    JSON        DEFAULT NULL,
    "metadata"   JSON        DEFAULT NULL,
    "acked"      BOOLEAN     NOT NULL DEFAULT FALSE,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
ALTER TABLE "watermill_outbox" ALTER COLUMN "offset" TYPE bigint;
ALTER SEQUENCE "watermill_outbox_offset_seq" AS bigint;

-- +goose Down
-- The table stays (it may hold events); only a database still below 2^31
-- can go back to a 32-bit offset.
ALTER SEQUENCE "watermill_outbox_offset_seq" AS integer;
ALTER TABLE "watermill_outbox" ALTER COLUMN "offset" TYPE integer;
