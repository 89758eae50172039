-- e2e schema: a small library exercising every relationship kind.
--
--   authors 1──n books            books.author_id → authors      (m2o from books, o2m from authors)
--   books   1──1 book_details     book_details.book_id is its PK (one-to-one)
--   books   n──m categories       through the junction book_categories (composite PK of both FKs)
--   books   1──n reviews          reviews.book_id → books
--
-- The read-only tables hold fixed seed data that the read tests assert on exactly; write tests
-- use `items` (and only touch rows whose sku they own), so test files may run in parallel.

create table public.authors (
  id int primary key,
  name text not null unique,
  country text,
  born int
);

create table public.books (
  id int primary key,
  title text not null,
  author_id int not null references public.authors (id),
  published int not null,
  pages int,
  price numeric(6, 2),
  genre text,           -- nullable on purpose (is.null)
  in_print boolean not null default true,
  tags text[] not null default '{}'
);

create table public.book_details (
  book_id int primary key references public.books (id),
  isbn text not null unique,
  summary text
);

create table public.categories (
  id int primary key,
  name text not null unique
);

create table public.book_categories (
  book_id int not null references public.books (id),
  category_id int not null references public.categories (id),
  primary key (book_id, category_id)
);

create table public.reviews (
  id int primary key,
  book_id int not null references public.books (id),
  stars int not null check (stars between 1 and 5),
  body text
);

insert into public.authors (id, name, country, born) values
  (1, 'Ursula K. Le Guin', 'US', 1929),
  (2, 'Stanisław Lem', 'PL', 1921),
  (3, 'Octavia E. Butler', 'US', 1947),
  (4, 'Italo Calvino', 'IT', 1923),
  (5, 'Nobody Yet', null, null);         -- an author without books (o2m → [])

insert into public.books (id, title, author_id, published, pages, price, genre, in_print, tags) values
  (1, 'A Wizard of Earthsea',        1, 1968, 183, 9.99,  'fantasy', true,  '{classic,magic}'),
  (2, 'The Left Hand of Darkness',   1, 1969, 304, 12.50, 'scifi',   true,  '{classic}'),
  (3, 'The Dispossessed',            1, 1974, 387, 13.00, 'scifi',   true,  '{utopia}'),
  (4, 'Solaris',                     2, 1961, 204, 11.00, 'scifi',   true,  '{classic,ocean}'),
  (5, 'The Cyberiad',                2, 1965, 295, 10.25, null,      false, '{robots,humor}'),
  (6, 'Kindred',                     3, 1979, 264, 14.00, 'scifi',   true,  '{}'),
  (7, 'Parable of the Sower',        3, 1993, 345, 15.75, 'scifi',   true,  '{dystopia}'),
  (8, 'Invisible Cities',            4, 1972, 165, 8.50,  null,      true,  '{cities}');

insert into public.book_details (book_id, isbn, summary) values
  (1, '978-0553383041', 'A young wizard, Ged, and his shadow.'),
  (4, '978-0156027601', 'A sentient ocean on a distant planet.'),
  (6, '978-0807083697', 'A woman pulled back in time.');

insert into public.categories (id, name) values
  (1, 'Classics'), (2, 'Science Fiction'), (3, 'Fantasy'), (4, 'Poetry');   -- Poetry: no books

insert into public.book_categories (book_id, category_id) values
  (1, 1), (1, 3),
  (2, 1), (2, 2),
  (3, 2),
  (4, 1), (4, 2),
  (6, 2),
  (7, 2);

insert into public.reviews (id, book_id, stars, body) values
  (1, 1, 5, 'Timeless'),
  (2, 1, 4, 'Lovely'),
  (3, 4, 5, 'Haunting'),
  (4, 6, 3, null);

-- The API roles only read the seed data.
revoke insert, update, delete, truncate on
  public.authors, public.books, public.book_details, public.categories, public.book_categories, public.reviews
  from anon, authenticated;
