"""The SITHS card profile: a PKCS#15 card with Swedish healthcare eID certificates."""
