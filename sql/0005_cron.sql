-- pgbase system schema 0005_cron: (being written)
select 1;
