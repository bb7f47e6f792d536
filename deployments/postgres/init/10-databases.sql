-- One database per Staybook service that owns data (docs/architecture.md,
-- "Services"), created by the postgres image at its first start, when the data
-- volume is empty: docker-entrypoint-initdb.d runs this file as POSTGRES_USER,
-- who therefore owns them. Each service migrates its own schema at start-up.
-- A volume created before a database was added here does not get it: the
-- services create a missing database themselves (shared/postgres,
-- CreateDatabase), or `docker compose down -v` starts afresh.
CREATE DATABASE staybook_booking;
CREATE DATABASE staybook_voucher;
CREATE DATABASE staybook_email;
CREATE DATABASE staybook_deadletters;
