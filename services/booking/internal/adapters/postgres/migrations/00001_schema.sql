-- +goose Up
CREATE TABLE hotels (
    id      text PRIMARY KEY,
    name    text NOT NULL,
    city    text NOT NULL,
    address text NOT NULL,
    stars   int  NOT NULL CHECK (stars BETWEEN 1 AND 5)
);

CREATE TABLE room_types (
    hotel_id        text   NOT NULL REFERENCES hotels (id),
    id              text   NOT NULL,
    name            text   NOT NULL,
    capacity        int    NOT NULL CHECK (capacity > 0),
    price_per_night bigint NOT NULL CHECK (price_per_night > 0), -- minor units
    currency        text   NOT NULL,
    total_rooms     int    NOT NULL CHECK (total_rooms > 0),
    PRIMARY KEY (hotel_id, id)
);

-- One row per room type per night, created when a stay first asks for that
-- night (total comes from room_types). booked never exceeds total: the
-- booking transaction takes a room with a conditional UPDATE per night.
CREATE TABLE inventory (
    hotel_id     text NOT NULL,
    room_type_id text NOT NULL,
    night        date NOT NULL,
    total        int  NOT NULL,
    booked       int  NOT NULL DEFAULT 0,
    PRIMARY KEY (hotel_id, room_type_id, night),
    FOREIGN KEY (hotel_id, room_type_id) REFERENCES room_types (hotel_id, id),
    CHECK (booked >= 0 AND booked <= total)
);

CREATE TABLE bookings (
    id                   uuid        PRIMARY KEY,
    hotel_id             text        NOT NULL,
    room_type            text        NOT NULL,
    check_in             text        NOT NULL,
    check_out            text        NOT NULL,
    guests               int         NOT NULL,
    guest_name           text        NOT NULL,
    guest_email          text        NOT NULL,
    status               text        NOT NULL CHECK (status IN ('confirmed', 'rejected')),
    reason               text        NOT NULL DEFAULT '',
    total_amount         bigint      NOT NULL DEFAULT 0,
    currency             text        NOT NULL DEFAULT '',
    idempotency_key_hash text        UNIQUE,
    version              bigint      NOT NULL DEFAULT 1,
    task_voucher         text        NOT NULL,
    task_email           text        NOT NULL,
    task_notification    text        NOT NULL,
    requested_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX bookings_hotel_room_idx ON bookings (hotel_id, room_type);

-- +goose Down
DROP TABLE bookings;
DROP TABLE inventory;
DROP TABLE room_types;
DROP TABLE hotels;
