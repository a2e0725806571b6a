"""The web shell: app factory, auth, REST API, Dash wiring, CLI. Glue only."""
