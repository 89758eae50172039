-- pgbase system schema upgrade of 0006_net.sql: brings the net schema of a database that
-- applied an earlier text of 0006 (the first release onwards) to the current text, in place.
--
-- Run by `pgbase migrate` (and serve/dev start-up) under the migration lock, in one transaction,
-- only when the probe in crates/pgbase-migrate/src/system.rs finds a piece of the current 0006
-- missing. Queued requests and stored responses are not touched.

-- The claiming worker's session (backend pid of its LISTEN connection): a request whose
-- claimer's session is gone is claimed again at once instead of when its lease expires.
alter table net.http_request_queue add column if not exists claimed_by integer;
