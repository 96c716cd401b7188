"""One module per resource; each exposes ``routes`` (an ``api.routing.Routes``)."""
