"""Use cases: take a session and an actor, call the domain, write, publish."""
