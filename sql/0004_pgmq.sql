-- pgbase system schema 0004_pgmq: (being written)
select 1;
