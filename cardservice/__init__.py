"""The reference card service, with a simulated Mobilt SITHS identity provider and phone.

It implements docs/cardservice-api.md over HTTPS with mutual TLS; its state is in SQLite.

Layers: :mod:`cardservice.service` decides (no HTTP), :mod:`cardservice.phone` is the
simulated phone's side, :mod:`cardservice.store` keeps state, :mod:`cardservice.http_server`
speaks HTTPS, :mod:`cardservice.mailer` e-mails. Bodies are the shared API models of
:mod:`protocol.cardservice_api`.
"""
