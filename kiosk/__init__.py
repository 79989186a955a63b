"""The kiosk appliance program: command line, and later the flow, controller and UI."""
