"""A simulated Mobilt SITHS identity provider and phone, run as a process of its own.

Why a separate party: the card service is a relying party and must not be able to log
anyone in by itself; in production it talks to the real provider. This simulator speaks
the same relying-party API (:mod:`protocol.identity_provider_api`: auth, collect, cancel,
over mutual TLS with the card service's RP certificate) and adds what a real provider's
app would do on a phone: scan the kiosk's QR (checked as a real provider checks it: our
prefix, the HMAC, the frame's age) and approve or decline as one of its test identities.

- :mod:`sim.identity_provider.orders` the orders and identities (no HTTP);
- :mod:`sim.identity_provider.server` the HTTPS server (RP API, phone API, phone page);
- ``python -m sim.identity_provider serve|phone`` the process and the command-line phone.
"""
