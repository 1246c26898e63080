"""Use cases: what Atende does, wired to ports. Handlers call these; adapters serve them."""
