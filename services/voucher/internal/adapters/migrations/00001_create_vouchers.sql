-- +goose Up
CREATE TABLE vouchers (
    booking_id text PRIMARY KEY,
    pdf        bytea       NOT NULL,
    size_bytes integer     NOT NULL,
    sha256     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A PDF is compressed already: keep PostgreSQL from trying again, out of line.
ALTER TABLE vouchers ALTER COLUMN pdf SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE vouchers;
