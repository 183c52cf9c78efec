"""Flask-WTF forms, one per input."""
