-- pgbase system schema 0003_extensions_jwt: (being written)
select 1;
