"""The reference card service, with a simulated Mobilt SITHS identity provider and phone.

It implements docs/cardservice-api.md over HTTPS with mutual TLS; its state is in SQLite.

Layers: :mod:`cardservice.service` decides (no HTTP), :mod:`cardservice.store` keeps
state, :mod:`cardservice.http_server` speaks HTTPS, :mod:`cardservice.mailer` e-mails.
"""
