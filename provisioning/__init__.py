"""Field technician's tool (device key, enrolment, config, self-test). Not built yet."""
