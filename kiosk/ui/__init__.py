"""The touchscreen UI (Kivy): renders the flow's state, turns touches into events."""
