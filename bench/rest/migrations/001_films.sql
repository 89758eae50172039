-- Bench schema: films with a director (many-to-one) and roles (one-to-many).
create table directors (id int primary key, name text not null);
create table films (
  id int primary key,
  title text not null,
  year int not null,
  director_id int not null references directors(id)
);
create index on films (director_id);
create table roles (
  id int generated always as identity primary key,
  film_id int not null references films(id),
  character text not null
);
create index on roles (film_id);
create table events (id bigint generated always as identity primary key, kind text not null, payload jsonb);

insert into directors select g, 'director ' || g from generate_series(1, 1000) g;
insert into films select g, 'film ' || g, 1950 + g % 70, 1 + g % 1000 from generate_series(1, 10000) g;
insert into roles (film_id, character) select 1 + g % 10000, 'character ' || g from generate_series(1, 50000) g;
analyze;
