-- Functions for rpc: scalar (with and without args), setof table, returns table, void, composite.

create function public.add_numbers(a int, b int) returns int
  language sql immutable
  as $$ select a + b $$;

create function public.hello() returns text
  language sql stable
  as $$ select 'hello from pgbase' $$;

-- setof a table: select/filters/order/limit apply to the result
create function public.books_by_country(country_code text) returns setof public.books
  language sql stable
  as $$
    select b.* from public.books b join public.authors a on a.id = b.author_id
    where a.country = country_code
  $$;

-- returns table(...) without arguments
create function public.book_stats() returns table (author text, books bigint, pages bigint)
  language sql stable
  as $$
    select a.name, count(b.id), coalesce(sum(b.pages), 0)
    from public.authors a left join public.books b on b.author_id = a.id
    group by a.name
  $$;

-- void, volatile: records that it was called
create table public.pings (
  id bigint generated always as identity primary key,
  label text not null,
  at timestamptz not null default now()
);

create function public.ping(label text) returns void
  language sql volatile
  as $$ insert into public.pings (label) values (label) $$;

-- a single composite row, volatile (writes)
create function public.restock(item_sku text, amount int) returns public.items
  language sql volatile
  as $$
    update public.items set qty = qty + amount where sku = item_sku returning *
  $$;

-- raises a custom error (P0001 → 400)
create function public.fail_with(msg text) returns int
  language plpgsql stable
  as $$ begin raise exception '%', msg using hint = 'raised on purpose'; end $$;
