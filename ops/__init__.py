"""Operator commands for a running deployment (AWS, LocalStack or the local stack): `python -m ops --help`."""
