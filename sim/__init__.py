"""What a developer, a test or a demo needs and the appliance does not.

Virtual cards served to the real pcscd through vpcd (:mod:`sim.vcard`), the test
SITHS PKI (:mod:`sim.siths_pki`), development TLS certificates (:mod:`sim.dev_pki`),
the simulated identity provider and phone (:mod:`sim.identity_provider`, a process of
its own) and the phone's client (:mod:`sim.phone_client`), the screen gallery
(:mod:`sim.gallery`) and the demo wiring (:mod:`sim.demo`, :mod:`sim.cli`). Nothing
outside :mod:`sim` imports it but the developer-command hand-over in :mod:`kiosk.cli`.
"""
