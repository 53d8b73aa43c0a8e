"""Use cases: what each route and consumer does, with the domain rules and the adapters; no framework code."""
