-- pgbase system schema 0002_auth: (being written)
select 1;
