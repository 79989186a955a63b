"""The dashboard and JSON API (aiohttp): pages, sign-in, commands, live updates, metrics."""
