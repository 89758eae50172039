-- pgbase system schema 0006_net: (being written)
select 1;
