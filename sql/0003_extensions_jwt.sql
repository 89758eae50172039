-- pgbase system schema 0003_extensions_jwt: JSON Web Tokens in SQL, call-compatible with the
-- pgjwt 0.2.0 extension (`extensions.sign`, `extensions.verify`, `extensions.url_encode`,
-- `extensions.url_decode`, `extensions.algorithm_sign`, `extensions.try_cast_double`), written
-- in plain SQL. HS256, HS384 and HS512 only, as pgjwt. The one dependency is pgcrypto's `hmac`,
-- which every managed Postgres offers (it is a trusted extension since PostgreSQL 13).
--
-- Differences from pgjwt, all deliberate: `verify` is STABLE (it reads the clock), and the
-- signature comparison does not leak timing about the expected signature (both sides are
-- hashed with the secret before they are compared).

create schema if not exists extensions;
comment on schema extensions is 'extension-compatible functions installed by pgbase (pgjwt) and extensions such as pgcrypto';
grant usage on schema extensions to anon, authenticated, service_role;

create extension if not exists pgcrypto with schema extensions;

-- base64url without padding or line breaks (RFC 7515 §2).
create or replace function extensions.url_encode(data bytea) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog as $fn$
  select translate(encode(data, 'base64'), E'+/=\n', '-_')
$fn$;

-- The inverse of url_encode: restores the alphabet and the padding, then decodes.
create or replace function extensions.url_decode(data text) returns bytea
language sql immutable strict parallel safe
set search_path = pg_catalog as $fn$
  select decode(
    rpad(translate(data, '-_', '+/'), ((length(data) + 3) / 4) * 4, '='),
    'base64')
$fn$;

-- A double, or NULL when the text is not a number.
create or replace function extensions.try_cast_double(inp text) returns double precision
language plpgsql immutable parallel safe
set search_path = pg_catalog as $fn$
begin
  return inp::double precision;
exception when others then
  return null;
end
$fn$;

-- algorithm_sign(signables, secret, algorithm): base64url(HMAC(signables, secret)) with
-- SHA-256/384/512 for HS256/HS384/HS512. Any other algorithm names no hash, so pgcrypto raises
-- 22023 `Cannot use "": No such hash algorithm`, as pgjwt does. pgcrypto may already live in
-- another schema (installed before pgbase), so the function is created against wherever it is.
do $algorithm_sign$
declare
  crypto_schema name;
begin
  select n.nspname into crypto_schema
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
  where e.extname = 'pgcrypto';
  execute format($sql$
    create or replace function extensions.algorithm_sign(signables text, secret text, algorithm text)
    returns text
    language sql immutable parallel safe
    set search_path = pg_catalog as $body$
      select extensions.url_encode(%1$I.hmac(
        signables,
        secret,
        case algorithm
          when 'HS256' then 'sha256'
          when 'HS384' then 'sha384'
          when 'HS512' then 'sha512'
          else ''
        end))
    $body$
  $sql$, crypto_schema);
end
$algorithm_sign$;

-- sign(payload, secret, algorithm): a compact JWS. The header is always
-- {"alg":"<algorithm>","typ":"JWT"}; the payload is the JSON text exactly as given.
create or replace function extensions.sign(payload json, secret text, algorithm text default 'HS256')
returns text
language sql immutable parallel safe
set search_path = pg_catalog as $fn$
  with parts as (
    select extensions.url_encode(convert_to('{"alg":"' || algorithm || '","typ":"JWT"}', 'utf8'))
           || '.' ||
           extensions.url_encode(convert_to(payload::text, 'utf8')) as signables
  )
  select signables || '.' || extensions.algorithm_sign(signables, secret, algorithm)
  from parts
$fn$;

-- verify(token, secret, algorithm): the decoded header and payload, and whether the token is
-- valid: the signature matches and now() lies in [nbf, exp) (a missing or non-numeric claim
-- leaves that side open). The header's alg is not compared with `algorithm`, as in pgjwt. A
-- malformed token raises (bad base64 or JSON) instead of returning valid = false.
create or replace function extensions.verify(token text, secret text, algorithm text default 'HS256')
returns table(header json, payload json, valid boolean)
language sql stable parallel safe
set search_path = pg_catalog as $fn$
  with parts as (
    select split_part(token, '.', 1) as h,
           split_part(token, '.', 2) as p,
           split_part(token, '.', 3) as s
  ),
  decoded as (
    select convert_from(extensions.url_decode(h), 'utf8')::json as header,
           convert_from(extensions.url_decode(p), 'utf8')::json as payload,
           -- Both signatures are hashed with the secret before comparing, so the comparison's
           -- timing tells nothing about the expected one.
           md5(s || secret) = md5(extensions.algorithm_sign(h || '.' || p, secret, algorithm) || secret)
             as signature_ok
    from parts
  )
  select header,
         payload,
         signature_ok
           and coalesce(to_timestamp(extensions.try_cast_double(payload ->> 'exp')) > current_timestamp, true)
           and coalesce(to_timestamp(extensions.try_cast_double(payload ->> 'nbf')) <= current_timestamp, true)
  from decoded
$fn$;

grant execute on function
  extensions.url_encode(bytea),
  extensions.url_decode(text),
  extensions.try_cast_double(text),
  extensions.algorithm_sign(text, text, text),
  extensions.sign(json, text, text),
  extensions.verify(text, text, text)
to anon, authenticated, service_role;
