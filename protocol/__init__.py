"""The contracts shared by the kiosk, the card service and the fleet. Imports nothing of ours.

The login QR format (:mod:`protocol.login_qr`), the credential envelope on RFC 9180 HPKE
(:mod:`protocol.credential`), the admin-key cryptogram (:mod:`protocol.admin_key`), the
card service API models (:mod:`protocol.cardservice_api`), their closed value sets
(:mod:`protocol.cardservice_values`) and problem codes (:mod:`protocol.problems`), and
RFC 3339 times on the wire (:mod:`protocol.times`).
"""
