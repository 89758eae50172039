-- 6. Mail settings: where the digest mails go.
--
-- One row, in `private` (it holds an API key, so the API never exposes it; only the digest
-- functions below, running as their owner, read it). In production point it at your mail
-- provider, e.g.:
--
--   update private.mail_settings
--      set provider_url = 'https://api.resend.com/emails', api_key = 're_…',
--          from_address = 'Acme <digest@acme.example>';
--
-- While provider_url is NULL the mails go to the dev mail sink: `pgbase dev` sets the database
-- setting `pgbase.dev_mail_url` to its own POST /dev/mail endpoint before it applies the
-- migrations (`pgbase serve` sets nothing, so there a NULL provider_url sends nothing and the
-- deliver job reports why). The provider is called with POST <provider_url>, JSON
-- {from, to, subject, text, html} and `Authorization: Bearer <api_key>` (when a key is set) —
-- the shape of Resend's API, which Postmark, Mailgun and SendGrid bridges also accept.

create table private.mail_settings (
  id boolean primary key default true check (id),   -- at most one row
  provider_url text check (provider_url ~ '^https?://'),
  api_key text,
  from_address text not null default 'Daily digest <digest@example.com>',
  -- how long a message stays hidden after a read, i.e. the wait before a failed mail is retried
  retry_after_seconds integer not null default 30 check (retry_after_seconds between 1 and 86400),
  -- after this many sends without a 2xx answer, a message is archived (pgmq.a_digests)
  max_attempts integer not null default 5 check (max_attempts between 1 and 100),
  -- messages handled per run of deliver-digests
  batch_size integer not null default 50 check (batch_size between 1 and 1000)
);
comment on table private.mail_settings is 'The mail provider of the daily digest (one row)';
insert into private.mail_settings default values;
revoke all on private.mail_settings from public;

-- The URL mails are posted to: the configured provider, else the dev sink, else NULL.
create function private.mail_provider_url() returns text
language sql stable set search_path = ''
as $$
  select coalesce(
    (select s.provider_url from private.mail_settings s),
    nullif(current_setting('pgbase.dev_mail_url', true), '')
  )
$$;
revoke execute on function private.mail_provider_url() from public;

-- The requests deliver-digests has sent and not yet settled: which queue message each
-- net.http_post request carries. A row goes away once its response is in net._http_response.
create table private.digest_deliveries (
  request_id bigint primary key,          -- the id net.http_post returned
  msg_id bigint not null,                 -- the message of queue 'digests' it delivers
  sent_at timestamptz not null default now()
);
create index digest_deliveries_msg_id_idx on private.digest_deliveries (msg_id);
revoke all on private.digest_deliveries from public;
