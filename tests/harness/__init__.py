"""Test-time infrastructure: a private pcscd with vpcd readers, waiting helpers."""
