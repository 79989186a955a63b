"""The reference card service: docs/cardservice-api.md over HTTPS with mutual TLS.

Layers: :mod:`cardservice.service` (with :mod:`~cardservice.logins` and
:mod:`~cardservice.outcome_operations`) decides, without HTTP; :mod:`cardservice.store`
and :mod:`cardservice.records` keep state in SQLite or PostgreSQL, one transaction per
change; :mod:`cardservice.http_app` and :mod:`cardservice.http_server` speak HTTPS;
:mod:`cardservice.identity_provider` reaches the identity provider as a relying party;
:mod:`cardservice.notices` and :mod:`cardservice.mailer` write and send the holder's
e-mail. Bodies are the shared API models of :mod:`protocol.cardservice_api`. There is no
simulator here: that is :mod:`sim.identity_provider`, a process of its own.
"""
