"""The aiohttp layer: ``create_app(settings)``, middlewares, handlers, OpenAPI, the console."""
