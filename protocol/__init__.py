"""The contracts shared by the kiosk, the card service and the fleet; imports nothing of ours.

The login QR format (:mod:`protocol.login_qr`), the credential envelope
(:mod:`protocol.credential`), the admin-key cryptogram (:mod:`protocol.admin_key`),
reason and outcome codes with their words (:mod:`protocol.reasons`, ``words/``), the
facts about PINs and PUKs (:mod:`protocol.card_rules`), and the card service API: its
models (:mod:`protocol.cardservice_api`), value sets (:mod:`protocol.cardservice_values`),
problem codes (:mod:`protocol.problems`) and times (:mod:`protocol.times`).
"""
