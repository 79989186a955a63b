"""Reference card service and simulated Mobilt SITHS phone. Not built yet."""
