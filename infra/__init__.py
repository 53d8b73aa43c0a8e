"""Deployment tooling: stages the Chalice project and packages it into one SAM template (see infra/README.md)."""
