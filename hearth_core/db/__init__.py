"""PostgreSQL access: the pool, the migrations runner and the repository functions."""
