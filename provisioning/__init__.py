"""Field technician's tool: device key, enrolment, configuration (``kiosk-provision``)."""
