"""PostgreSQL plumbing shared by every slice: ``pool`` (the asyncpg pool), ``migrations``,
``paging`` (``Where``, ``fetch_page``, ``Page``), ``locked`` (``fetch_locked``) and ``audited``
(``audited_write``). Each slice's SQL lives in its own ``repo.py``; nothing is re-exported
here, so importing the pool never pulls in the audit log."""
