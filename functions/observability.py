"""Powertools Logger, Metrics and Tracer, shared by every handler.

Log lines carry applicant ids, statuses, reasons and counts; never a NIK, KK, name, birth date, email or phone.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "prakerja"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Prakerja", service=SERVICE)
tracer = Tracer(service=SERVICE)
